/**
 * IPC messages between the benchmark orchestrator (bench/ingest.ts) and its
 * child processes: the load publisher (bench/load-publisher.ts) and the bare
 * baseline broker (bench/baseline-broker.ts). Messages arrive as `unknown`
 * and are parsed with these schemas.
 */
import { z } from 'zod';

export const saturatePhaseSchema = z.object({
  name: z.string(),
  mode: z.literal('saturate'),
  /** QoS 1 publishes each publisher keeps in flight. */
  window: z.number().int().min(1).max(10_000),
  warmupMs: z.number().int().min(0),
  durationMs: z.number().int().min(100),
});

export const pacedPhaseSchema = z.object({
  name: z.string(),
  mode: z.literal('paced'),
  /** Total events per second, split evenly across the publishers. */
  rate: z.number().positive(),
  warmupMs: z.number().int().min(0),
  durationMs: z.number().int().min(100),
});

export const phaseSchema = z.discriminatedUnion('mode', [saturatePhaseSchema, pacedPhaseSchema]);
export type Phase = z.infer<typeof phaseSchema>;

export const loadPlanSchema = z.object({
  type: z.literal('run'),
  url: z.string(),
  username: z.string().optional(),
  password: z.string().optional(),
  topic: z.string(),
  publishers: z.number().int().min(1).max(64),
  /** Prefix of the publisher-side event ids (unique per run). */
  idPrefix: z.string(),
  /** Target payload size in bytes. */
  payloadBytes: z.number().int().min(100).max(1000),
  phases: z.array(phaseSchema).min(1),
  /** Process under test, whose CPU time is sampled over each measurement window (Linux /proc). */
  sutPid: z.number().int().positive().optional(),
});
export type LoadPlan = z.infer<typeof loadPlanSchema>;

export const latencySummarySchema = z.object({
  count: z.number(),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  max: z.number(),
  mean: z.number(),
});
export type LatencySummary = z.infer<typeof latencySummarySchema>;

export const phaseResultSchema = z.object({
  name: z.string(),
  mode: z.enum(['saturate', 'paced']),
  /** Paced phases: the requested rate (events/s). */
  targetRate: z.number().nullable(),
  /** Length of the measurement window (after warm-up), ms. */
  measuredMs: z.number(),
  /** Publishes sent inside the measurement window. */
  sent: z.number(),
  /** PUBACKs received inside the measurement window. */
  acked: z.number(),
  /** acked / measured seconds: committed events per second. */
  ackRate: z.number(),
  /** Publish-to-PUBACK latency of publishes sent inside the window, ms. */
  latency: latencySummarySchema,
  /** Publish callbacks that reported an error (any phase time). */
  errors: z.number(),
  /** Paced phases: sends the generator could not make because a client hit its in-flight cap. */
  skipped: z.number(),
  /** Publishes still unacknowledged when the drain timeout ended the phase. */
  unacked: z.number(),
  /** All PUBACKs of the phase, warm-up included (for the row-count cross-check). */
  ackedTotal: z.number(),
  /** CPU time of the process under test over the window, in % of one core (null without sutPid). */
  sutCpuPct: z.number().nullable(),
  /** CPU time of the load generator over the window, in % of one core. */
  loadCpuPct: z.number(),
});
export type PhaseResult = z.infer<typeof phaseResultSchema>;

export const publisherMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('connected'), publishers: z.number() }),
  z.object({ type: z.literal('phase'), result: phaseResultSchema }),
  z.object({ type: z.literal('done') }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type PublisherMessage = z.infer<typeof publisherMessageSchema>;

export const baselineMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('listening'), port: z.number().int() }),
  z.object({ type: z.literal('stopped'), rows: z.number().int(), commits: z.number().int() }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type BaselineMessage = z.infer<typeof baselineMessageSchema>;

export const baselineCommandSchema = z.object({ type: z.literal('stop') });
