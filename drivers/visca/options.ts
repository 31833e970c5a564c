/**
 * Options and capabilities of the VISCA drivers (serial/raw `visca` and
 * `visca-ip`), kept apart from the driver logic.
 */
import { z } from 'zod';
import { power, ptzPresets, status, type Capability } from '../capabilities.js';
import { zoom } from '../capabilities-extra.js';
import { ZOOM_MAX } from './codec.js';

const rtspUrl = z.url({ protocol: /^rtsps?$/, error: 'must be an rtsp:// or rtsps:// URL' });

export const viscaBaseOptions = {
  /** Wait for ACK (commands) or the answer (inquiries), per attempt. */
  timeoutMs: z.number().int().min(50).max(60_000).default(1000),
  /** Wait for the completion after the ACK (preset moves take seconds). */
  completionTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** CAM_PowerInq poll period; the poll also tells whether the camera is reachable. */
  pollSeconds: z.number().min(1).max(86_400).default(30),
  /** Consecutive unanswered requests before the camera is reported offline. */
  offlineAfter: z.number().int().min(1).max(20).default(2),
  /** Number of presets offered (numbers 0 .. presets-1). */
  presets: z.number().int().min(1).max(255).default(16),
  /** The camera's video stream, for the recording service; the driver does not use it. */
  rtspUrl: rtspUrl.optional(),
};

export const viscaOptionsSchema = z
  .object({
    /** Camera address on the VISCA chain, 1..7. */
    address: z.number().int().min(1).max(7).default(1),
    ...viscaBaseOptions,
    /** Extra attempts when no ACK arrives (never after an error reply or an ACK). */
    retries: z.number().int().min(0).max(5).default(1),
  })
  .strict();
export type ViscaOptions = z.infer<typeof viscaOptionsSchema>;

/** Options the shared driver core needs (serial and IP). */
export interface ViscaCoreOptions {
  address: number;
  timeoutMs: number;
  completionTimeoutMs: number;
  pollSeconds: number;
  offlineAfter: number;
  presets: number;
  retries: number;
}

export function viscaCapabilities(presets: number): Capability[] {
  return [power(), ptzPresets(presets), zoom({ direct: true, maxPosition: ZOOM_MAX }), status()];
}
