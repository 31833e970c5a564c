/**
 * Lesson completeness receipts (docs/sync.md, "Completeness receipts"), the
 * part of the district link shared by the edge (sync/receipts.ts) and the
 * reference cloud (sync/cloud/receipts.ts).
 *
 * A record is *tied to a lesson* when its event-log payload has
 * `lessonId` equal to the lesson's id (attendance, card taps, behaviour,
 * lesson start/update/end, audit entries of attendance corrections); the
 * receipts themselves (stream `receipt`) are not counted. A receipt is an
 * event-log row appended after the lesson's records, so the tied records it
 * describes are exactly those with a lower seq. It carries:
 * - `counts`: records per `stream/type` (e.g. `attendance/mark: 38`);
 * - `firstSeq`/`lastSeq`: the seq range they lie in (the cloud reads only that
 *   range of its primary key: cheap);
 * - `digest`: SHA-256 over the lines `seq stream type` of the tied records in
 *   ascending seq, so the cloud can verify the exact set, not only the counts.
 * `segments` is reserved for the recording's segment hashes (null until the
 * recording issue fills it).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PROTOCOL_VERSION, linkIdSchema } from './protocol.js';

export const RECEIPT_STREAM = 'receipt';
export const RECEIPT_TYPE = 'lesson';

const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const receiptPayloadSchema = z
  .object({
    lessonId: z.string().min(1).max(200),
    /** 1 for the receipt written at the lesson's end; +1 for each later receipt (a correction after the end). */
    revision: z.number().int().min(1),
    count: z.number().int().min(0),
    counts: z.record(z.string().max(100), z.number().int().min(1)),
    /** Seq range of the tied records; null when there are none. */
    firstSeq: seq.nullable(),
    lastSeq: seq.nullable(),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    /** Reserved: the recording's segment hashes (recording issue). */
    segments: z.array(z.object({ name: z.string(), sha256: z.string() }).strict()).nullable(),
  })
  .strict();
export type ReceiptPayload = z.infer<typeof receiptPayloadSchema>;

/** One tied record as both sides see it. */
export interface TiedRecord {
  seq: number;
  stream: string;
  type: string;
}

export interface ReceiptSummary {
  count: number;
  counts: Record<string, number>;
  firstSeq: number | null;
  lastSeq: number | null;
  digest: string;
}

/** Counts, range and digest of tied records given in ascending seq order. */
export function summariseTied(rows: Iterable<TiedRecord>): ReceiptSummary {
  const hash = createHash('sha256');
  const counts: Record<string, number> = {};
  let count = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  for (const r of rows) {
    if (lastSeq !== null && r.seq <= lastSeq) throw new RangeError(`tied records must be in ascending seq order (${r.seq} after ${lastSeq})`);
    hash.update(`${r.seq} ${r.stream} ${r.type}\n`);
    const key = `${r.stream}/${r.type}`;
    counts[key] = (counts[key] ?? 0) + 1;
    count++;
    firstSeq ??= r.seq;
    lastSeq = r.seq;
  }
  return { count, counts, firstSeq, lastSeq, digest: hash.digest('hex') };
}

export interface ReceiptDifference {
  /** `stream/type`, or `digest` when the counts agree but the seqs differ. */
  key: string;
  edge: number | string;
  cloud: number | string;
}

/** What differs between the receipt and the cloud's own summary (empty: complete). */
export function compareReceipt(receipt: Pick<ReceiptPayload, 'counts' | 'digest'>, cloud: ReceiptSummary): ReceiptDifference[] {
  const out: ReceiptDifference[] = [];
  const keys = new Set([...Object.keys(receipt.counts), ...Object.keys(cloud.counts)]);
  for (const key of [...keys].sort()) {
    const e = receipt.counts[key] ?? 0;
    const c = cloud.counts[key] ?? 0;
    if (e !== c) out.push({ key, edge: e, cloud: c });
  }
  if (out.length === 0 && receipt.digest !== cloud.digest) out.push({ key: 'digest', edge: receipt.digest, cloud: cloud.digest });
  return out;
}

/** `down/receipts` (cloud -> edge, QoS 1): the cloud's verdict on one receipt. */
export const receiptOutcomeSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    storeId: z.string().min(1).max(64),
    lessonId: z.string().min(1).max(200),
    revision: z.number().int().min(1),
    /** Seq of the receipt event. */
    receiptSeq: seq,
    outcome: z.enum(['complete', 'incomplete']),
    differences: z
      .array(z.object({ key: z.string().max(100), edge: z.union([z.number(), z.string()]), cloud: z.union([z.number(), z.string()]) }).strict())
      .max(100),
    ts: z.number().int().min(0),
  })
  .strict();
export type ReceiptOutcome = z.infer<typeof receiptOutcomeSchema>;
