/**
 * IPC messages between the worker-capacity benchmark (bench/sync-capacity.ts)
 * and its simulated rooms (bench/sync-rooms.ts, forked). Parsed with zod on
 * both sides.
 */
import { z } from 'zod';
import { latencySummarySchema } from './protocol.js';

const roomSchema = z.object({ id: z.string(), certFile: z.string(), keyFile: z.string() });

export const roomsCommandSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('init'),
    url: z.string(),
    caFile: z.string(),
    /** The Uplink's settings the rooms follow (edge defaults: 500, 200, 4, 10000). */
    maxEvents: z.number().int().min(1),
    lingerMs: z.number().int().min(0),
    maxInFlight: z.number().int().min(1),
    ackTimeoutMs: z.number().int().min(100),
    /** One minute of a room's events: [offset ms in the minute, events], repeated with a random phase per room. */
    minute: z.array(z.object({ atMs: z.number().int().min(0).max(59_999), events: z.array(z.object({ stream: z.string(), type: z.string(), payload: z.unknown() })) })),
  }),
  /** Connects these rooms (TLS, their certificates) and starts their load. */
  z.object({ type: z.literal('add'), rooms: z.array(roomSchema) }),
  /** Measures `durationMs` after `warmupMs`, then waits up to `graceMs` for the window's acks; samples the CPU of `pids` too. */
  z.object({ type: z.literal('measure'), warmupMs: z.number().int().min(0), durationMs: z.number().int().min(100), graceMs: z.number().int().min(0), pids: z.array(z.number().int()) }),
  z.object({ type: z.literal('stop') }),
]);
export type RoomsCommand = z.infer<typeof roomsCommandSchema>;

export const roomsWindowSchema = z.object({
  rooms: z.number(),
  measuredMs: z.number(),
  /** Batches and events the rooms sent in the window (first sends, not resends). */
  batches: z.number(),
  events: z.number(),
  /** Events newly acknowledged in the window (ackedSeq advances, summed over rooms). */
  ackedEvents: z.number(),
  /** Send-to-ack latency of the window's batches (acked within the grace time), ms. */
  latency: latencySummarySchema,
  /** Window batches still unacknowledged after the grace time. */
  unacked: z.number(),
  /** Batches resent after ackTimeoutMs in the window. */
  resent: z.number(),
  /** Unacknowledged events over all rooms at the window's start and end. */
  backlogStart: z.number(),
  backlogEnd: z.number(),
  /** CPU of the rooms' process over the window, % of one core. */
  cpuPct: z.number(),
  /** CPU of the processes named in the command (cloud, broker) over the window, % of one core each. */
  pidCpuPct: z.array(z.number()),
});
export type RoomsWindow = z.infer<typeof roomsWindowSchema>;

export const roomsMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('added'), rooms: z.number(), connectMs: z.number() }),
  z.object({ type: z.literal('window'), result: roomsWindowSchema }),
  z.object({ type: z.literal('stopped') }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type RoomsMessage = z.infer<typeof roomsMessageSchema>;
