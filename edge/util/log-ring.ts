/**
 * A small bounded ring of the service's recent log records, for the
 * technicians' `logs.recent` remote command (docs/sync.md). It is a second
 * pino destination (edge/util/logger.ts): every line the logger writes is
 * also parsed here and reduced to an allow-list of fields (time, level,
 * namespace, message, device, error message and code), so personal data a
 * log call might carry in other fields (a card uid, a student id) never
 * leaves the appliance this way. At most `capacity` records of at most
 * MAX_MSG_CHARS characters each are kept; the oldest go first.
 */
import { Writable } from 'node:stream';

export interface LogRecord {
  time: string;
  level: string;
  ns?: string;
  msg: string;
  device?: string;
  err?: string;
  code?: string;
}

export const DEFAULT_LOG_RING_CAPACITY = 500;
export const MAX_MSG_CHARS = 300;

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const LEVEL_RANK: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

const clip = (s: unknown, n = MAX_MSG_CHARS): string | undefined => (typeof s === 'string' ? (s.length > n ? `${s.slice(0, n)}…` : s) : undefined);

export class LogRing extends Writable {
  private readonly buf: LogRecord[] = [];
  private partial = '';
  private dropped = 0;

  constructor(readonly capacity = DEFAULT_LOG_RING_CAPACITY) {
    super({ decodeStrings: false });
  }

  override _write(chunk: string | Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const lines = text.split('\n');
    this.partial = (lines.pop() ?? '').slice(0, 64 * 1024);
    for (const line of lines) if (line) this.add(line);
    done();
  }

  /** Takes one pino JSON line; anything else is ignored. */
  add(line: string): void {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (!raw || typeof raw !== 'object') return;
    const rec: LogRecord = {
      time: typeof raw.time === 'string' ? raw.time : typeof raw.time === 'number' ? new Date(raw.time).toISOString() : '',
      level: typeof raw.level === 'number' ? (LEVELS[raw.level] ?? String(raw.level)) : String(raw.level ?? ''),
      msg: clip(raw.msg) ?? '',
    };
    const ns = clip(raw.ns, 64);
    if (ns) rec.ns = ns;
    const device = clip(raw.device, 64);
    if (device) rec.device = device;
    const err = raw.err as { message?: unknown; code?: unknown } | string | undefined;
    const errText = typeof err === 'string' ? clip(err) : clip(err?.message);
    if (errText) rec.err = errText;
    const code = clip(raw.code, 64) ?? clip(raw.reason, 64);
    if (code) rec.code = code;
    this.buf.push(rec);
    if (this.buf.length > this.capacity) {
      this.buf.shift();
      this.dropped++;
    }
  }

  /** The newest `limit` records at or above `minLevel`, oldest first. */
  recent(opts: { limit?: number; minLevel?: string } = {}): { records: LogRecord[]; dropped: number } {
    const min = LEVEL_RANK[opts.minLevel ?? 'trace'] ?? 0;
    const matching = this.buf.filter((r) => (LEVEL_RANK[r.level] ?? 0) >= min);
    const limit = Math.max(0, Math.min(opts.limit ?? this.capacity, this.capacity));
    return { records: matching.slice(Math.max(0, matching.length - limit)), dropped: this.dropped };
  }
}
