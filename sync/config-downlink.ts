/**
 * Downlink of the room's configuration (issue 5; docs/sync.md and
 * docs/config-push.md). The district publishes a versioned config document
 * for a room as a **retained** message on `district/rooms/{roomId}/down/config`
 * (so it waits for a room that is offline); the edge checks the envelope,
 * skips a version it has already handled (the retained message comes again at
 * every reconnect; the handled mark is the highest cloud version in the
 * store's config_versions, committed before any device is touched), hands the
 * document to the config applier (edge/config/apply.ts: validate, apply,
 * check the devices, roll back), and reports the outcome on
 * `district/rooms/{roomId}/up/config-results` (QoS 1). The outcome is also an
 * audit row in the event log, which the uplink delivers exactly once.
 */
import { z } from 'zod';
import type { ConfigPushRequest, ConfigPushResult } from '../edge/config/apply.js';
import type { Logger } from '../edge/util/logger.js';
import { decodeMessage, linkIdSchema, PROTOCOL_VERSION, TOPIC_ROOT } from './protocol.js';

/** Config documents are small; a push above this is refused by the decoder (4 MB is the link's general limit). */
export const MAX_CONFIG_PUSH_BYTES = 1024 * 1024;

export const configPushSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    /** The district's version of this room's config: increases with every push. */
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** The config document (devices, scenes and/or recording.live, or a whole config file), validated on the edge. */
    config: z.unknown(),
    /** Who pushed it (a technician's user name): audited on the edge. */
    issuedBy: z.string().min(1).max(128),
    issuedAt: z.number().int().min(0),
  })
  .strict();
export type ConfigPush = z.infer<typeof configPushSchema>;

export const configResultSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    version: z.number().int().min(0),
    outcome: z.enum(['applied', 'unchanged', 'rolled-back', 'refused', 'interrupted']),
    changes: z
      // liveChanged: whether recording.live changed; absent in results from edges that could not push it yet.
      .object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()), scenesChanged: z.boolean(), liveChanged: z.boolean().optional() })
      .strict()
      .optional(),
    /** Devices that failed the check (rolled-back). */
    failed: z.array(z.object({ deviceId: z.string(), reason: z.string() }).strict()).optional(),
    /** `path: reason` (refused), as `classroom-edge check-config` prints them. */
    problems: z.array(z.string()).optional(),
    problemCount: z.number().int().min(0).optional(),
    message: z.string().optional(),
    ts: z.number().int().min(0),
  })
  .strict();
export type ConfigResult = z.infer<typeof configResultSchema>;

export const configTopics = (roomId: string) => ({
  push: `${TOPIC_ROOT}${roomId}/down/config`,
  results: `${TOPIC_ROOT}${roomId}/up/config-results`,
});
/** What the cloud subscribes to for results. */
export const CONFIG_RESULTS_FILTER = `${TOPIC_ROOT}+/up/config-results`;

export type ConfigDownlinkOutcome = { kind: 'handled'; result: ConfigResult } | { kind: 'skipped'; reason: string } | { kind: 'rejected'; reason: string };

export interface ConfigDownlinkDeps {
  roomId: string;
  applier: {
    applyConfigPush(req: ConfigPushRequest): Promise<ConfigPushResult>;
    handledVersion(source: string): number;
  };
  logger: Logger;
  /** Publishes up the link (QoS 1). */
  publish: (topic: string, payload: object) => Promise<void>;
  /** Counts a malformed or misaddressed push (metrics). */
  onRejected?: (reason: string) => void;
}

export function toConfigResult(roomId: string, r: ConfigPushResult): ConfigResult {
  const { id: _id, ...rest } = r;
  return { v: PROTOCOL_VERSION, roomId, ...rest };
}

export class ConfigDownlink {
  private readonly log: Logger;
  private readonly topics: ReturnType<typeof configTopics>;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ConfigDownlinkDeps) {
    this.log = deps.logger.child({ ns: 'sync:config' });
    this.topics = configTopics(deps.roomId);
  }

  get subscription(): string {
    return this.topics.push;
  }

  /** Reports outcomes decided outside a push (a push interrupted by a restart). */
  async report(result: ConfigPushResult): Promise<void> {
    await this.deps.publish(this.topics.results, toConfigResult(this.deps.roomId, result)).catch((e: unknown) => this.log.warn({ err: e }, 'could not report a config result'));
  }

  /** Handles one message of the subscription; never throws. */
  handle(topic: string, payload: Uint8Array): Promise<ConfigDownlinkOutcome> {
    const next = this.chain.then(() => this.handleOne(topic, payload));
    this.chain = next.catch(() => undefined);
    return next.catch((e: unknown) => {
      this.log.error({ err: e, topic }, 'config push failed');
      return { kind: 'rejected', reason: `internal error: ${e instanceof Error ? e.message : String(e)}` } as const;
    });
  }

  private reject(topic: string, reason: string): ConfigDownlinkOutcome {
    this.log.warn({ topic, reason }, 'config push rejected');
    this.deps.onRejected?.(reason);
    return { kind: 'rejected', reason };
  }

  private async handleOne(topic: string, payload: Uint8Array): Promise<ConfigDownlinkOutcome> {
    if (payload.length === 0) return { kind: 'skipped', reason: 'empty message (retained push cleared)' };
    const decoded = decodeMessage(configPushSchema, payload, { maxCompressedBytes: MAX_CONFIG_PUSH_BYTES, maxDecompressedBytes: MAX_CONFIG_PUSH_BYTES });
    if (!decoded.ok) return this.reject(topic, `${decoded.error.code}: ${decoded.error.message}`);
    const push = decoded.value;
    if (push.roomId !== this.deps.roomId || topic !== this.topics.push) {
      return this.reject(topic, `a config push for room ${push.roomId} on ${topic} is not addressed to room ${this.deps.roomId}`);
    }
    const handled = this.deps.applier.handledVersion('cloud');
    if (push.version <= handled) {
      this.log.debug({ version: push.version, handled }, 'config push already handled');
      return { kind: 'skipped', reason: `config version ${push.version} already handled (last ${handled})` };
    }
    this.log.info({ version: push.version, issuedBy: push.issuedBy }, 'config push from the district');
    const r = await this.deps.applier.applyConfigPush({ config: push.config, version: push.version, issuedBy: push.issuedBy, issuedAt: push.issuedAt, source: 'cloud', role: 'cloud' });
    const result = toConfigResult(this.deps.roomId, r);
    await this.deps.publish(this.topics.results, result).catch((e: unknown) => this.log.warn({ err: e, version: push.version }, 'could not report the config result'));
    return { kind: 'handled', result };
  }
}
