/**
 * Downlink of the room's datasets (issue 5): the district publishes the
 * roster and the timetable (bell schedules, weekly grid, term calendar) of a
 * room as retained messages on `district/rooms/{roomId}/down/datasets/{kind}`,
 * so the latest version waits for a room that was offline. The edge checks
 * the envelope, skips a version it has already handled (the retained message
 * comes again at every reconnect), puts the document through the same
 * validation as a local import (edge/lessons/datasets.ts: a refused document
 * changes nothing, the last good copy stays in force), remembers the cloud
 * version it handled, and reports the result up on
 * `district/rooms/{roomId}/up/dataset-results` (QoS 1).
 *
 * The cloud's version numbers are the district's; the edge's own dataset
 * versions count every import (local CLI imports too), so both are reported.
 */
import { z } from 'zod';
import { DATASET_KINDS, type DatasetKind, type Datasets } from '../edge/lessons/datasets.js';
import { formatProblem } from '../edge/lessons/problems.js';
import type { Store } from '../edge/store/index.js';
import type { Clock } from '../edge/util/clock.js';
import type { Logger } from '../edge/util/logger.js';
import { decodeMessage, linkIdSchema, PROTOCOL_VERSION, TOPIC_ROOT } from './protocol.js';

export const datasetPushSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    kind: z.enum(DATASET_KINDS),
    /** The district's version of this room's dataset: increases with every push. */
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** The document, validated on the edge like a local import. */
    doc: z.unknown(),
    publishedAt: z.number().int().min(0),
  })
  .strict();
export type DatasetPush = z.infer<typeof datasetPushSchema>;

export const datasetResultSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    kind: z.enum(DATASET_KINDS),
    version: z.number().int().min(1),
    outcome: z.enum(['applied', 'unchanged', 'refused']),
    /** The edge's dataset version in force after handling the push. */
    localVersion: z.number().int().min(0),
    /** Up to MAX_REPORTED_PROBLEMS problems of a refused document, "path: reason". */
    problems: z.array(z.string()).optional(),
    problemCount: z.number().int().min(0).optional(),
    ts: z.number().int().min(0),
  })
  .strict();
export type DatasetResult = z.infer<typeof datasetResultSchema>;

export const MAX_REPORTED_PROBLEMS = 20;

export const datasetTopics = (roomId: string) => ({
  push: (kind: DatasetKind) => `${TOPIC_ROOT}${roomId}/down/datasets/${kind}`,
  /** What the edge subscribes to. */
  pushes: `${TOPIC_ROOT}${roomId}/down/datasets/+`,
  results: `${TOPIC_ROOT}${roomId}/up/dataset-results`,
});

/** Meta key of the last district version handled for a kind (applied, unchanged or refused). */
export const handledKey = (kind: DatasetKind) => `sync.datasets.${kind}.handled`;

export type DownlinkOutcome =
  | { kind: 'handled'; result: DatasetResult }
  | { kind: 'skipped'; reason: string }
  | { kind: 'rejected'; reason: string };

export interface DatasetDownlinkDeps {
  roomId: string;
  datasets: Pick<Datasets, 'put' | 'active'>;
  store: Pick<Store, 'db' | 'write'>;
  clock: Clock;
  logger: Logger;
  /** Publishes up the link (QoS 1). A failure is logged; the push is handled again when it comes back. */
  publish: (topic: string, payload: object) => Promise<void>;
  /** Counts a malformed or misaddressed push (metrics). */
  onRejected?: (reason: string) => void;
}

export class DatasetDownlink {
  private readonly log: Logger;
  private readonly topics: ReturnType<typeof datasetTopics>;
  /** One push at a time, in arrival order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: DatasetDownlinkDeps) {
    this.log = deps.logger.child({ ns: 'sync:datasets' });
    this.topics = datasetTopics(deps.roomId);
  }

  get subscription(): string {
    return this.topics.pushes;
  }

  /** The district version last handled for `kind` (0 when none). */
  handledVersion(kind: DatasetKind): number {
    const row = this.deps.store.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(handledKey(kind));
    return row ? Number(row.value) : 0;
  }

  /** Handles one message of the subscription; never throws. */
  handle(topic: string, payload: Uint8Array): Promise<DownlinkOutcome> {
    const next = this.chain.then(() => this.handleOne(topic, payload));
    this.chain = next.catch(() => undefined);
    return next.catch((e: unknown) => {
      const reason = `internal error: ${e instanceof Error ? e.message : String(e)}`;
      this.log.error({ err: e, topic }, 'dataset push failed');
      return { kind: 'rejected', reason } as const;
    });
  }

  private reject(topic: string, reason: string): DownlinkOutcome {
    this.log.warn({ topic, reason }, 'dataset push rejected');
    this.deps.onRejected?.(reason);
    return { kind: 'rejected', reason };
  }

  private async handleOne(topic: string, payload: Uint8Array): Promise<DownlinkOutcome> {
    // An empty retained message clears the topic on the broker: nothing to apply.
    if (payload.length === 0) return { kind: 'skipped', reason: 'empty message (retained push cleared)' };
    const decoded = decodeMessage(datasetPushSchema, payload);
    if (!decoded.ok) return this.reject(topic, `${decoded.error.code}: ${decoded.error.message}`);
    const push = decoded.value;
    if (push.roomId !== this.deps.roomId || topic !== this.topics.push(push.kind)) {
      return this.reject(topic, `a ${push.kind} push for room ${push.roomId} on ${topic} is not addressed to room ${this.deps.roomId}`);
    }
    const handled = this.handledVersion(push.kind);
    if (push.version <= handled) {
      this.log.debug({ kind: push.kind, version: push.version, handled }, 'dataset push already handled');
      return { kind: 'skipped', reason: `version ${push.version} of the ${push.kind} already handled (last ${handled})` };
    }

    const put = await this.deps.datasets.put(push.kind, push.doc, `cloud v${push.version}`);
    const now = this.deps.clock.now();
    const localVersion = this.deps.datasets.active(push.kind)?.version ?? 0;
    const result: DatasetResult = put.ok
      ? { v: PROTOCOL_VERSION, roomId: push.roomId, kind: push.kind, version: push.version, outcome: put.changed ? 'applied' : 'unchanged', localVersion, ts: now }
      : {
          v: PROTOCOL_VERSION,
          roomId: push.roomId,
          kind: push.kind,
          version: push.version,
          outcome: 'refused',
          localVersion,
          problems: put.problems.slice(0, MAX_REPORTED_PROBLEMS).map(formatProblem),
          problemCount: put.problems.length,
          ts: now,
        };
    await this.deps.store.write((tx) => {
      tx.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(handledKey(push.kind), String(push.version));
    });
    if (put.ok) this.log.info({ kind: push.kind, version: push.version, localVersion, outcome: result.outcome }, 'dataset from the district');
    else this.log.warn({ kind: push.kind, version: push.version, problems: result.problemCount, localVersion }, 'dataset from the district refused; the last good copy stays in force');
    await this.deps.publish(this.topics.results, result).catch((e: unknown) => this.log.warn({ err: e, kind: push.kind }, 'could not report the dataset result'));
    return { kind: 'handled', result };
  }
}
