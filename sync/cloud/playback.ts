/**
 * Serving a recording's MP4 to a technician's player (docs/sync.md,
 * "Recording uploads"): HTTP range requests by hand (RFC 9110 §14), small
 * enough to check line by line, and the playback audit's dedup.
 *
 * Ranges: one `bytes=` range is honoured (`a-b`, `a-`, `-n`), answered 206
 * with Content-Range; a range starting at or past the end is 416 with
 * `Content-Range: bytes * /size`; a syntactically invalid header, another
 * unit, several ranges (players ask for one), or an `If-Range` that does not
 * match the ETag (the file's sha256) are ignored as RFC 9110 allows: 200 with
 * the whole file.
 *
 * Audit: a player sends many range requests for one viewing (metadata, then
 * chunks, then seeks). One `recording.play` audit row per playback session:
 * the first request of a technician for a recording, then again only after
 * PLAYBACK_SESSION_MS without any request of theirs for it (a sliding
 * window), so a viewing is one row and watching again later is a new one.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const RANGE = /^bytes=(\d*)-(\d*)$/i;

/** The answer to a Range header for a representation of `size` bytes (end inclusive). */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'full' };
  const m = RANGE.exec(header.trim());
  if (!m) return { kind: 'full' };
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'full' };
  if (a === '') {
    // Suffix: the last n bytes (all of them when n exceeds the size).
    const n = Number(b);
    if (!Number.isSafeInteger(n)) return { kind: 'full' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const last = b === '' ? size - 1 : Number(b);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last)) return { kind: 'full' };
  if (b !== '' && last < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(last, size - 1) };
}

/** Sends `file` (an MP4) for the request, with ranges; resolves once the answer is under way. */
export async function sendMedia(req: FastifyRequest, reply: FastifyReply, file: string, etag: string): Promise<FastifyReply> {
  const size = (await stat(file)).size;
  const ifRange = req.headers['if-range'];
  const range = ifRange !== undefined && ifRange !== etag ? ({ kind: 'full' } as const) : parseRange(req.headers.range, size);
  reply.headers({
    'accept-ranges': 'bytes',
    'content-type': 'video/mp4',
    etag,
    // Minors appear in these videos: no browser or proxy keeps a copy.
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  if (range.kind === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${size}`).send();
  if (range.kind === 'full') {
    reply.header('content-length', String(size));
    return reply.code(200).send(req.method === 'HEAD' ? undefined : createReadStream(file));
  }
  reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', String(range.end - range.start + 1));
  return reply.code(206).send(req.method === 'HEAD' ? undefined : createReadStream(file, { start: range.start, end: range.end }));
}

/** A viewing is over after this long without a request of the same technician for the same recording. */
export const PLAYBACK_SESSION_MS = 10 * 60_000;

/** Decides which requests start a playback session (and so are audited). */
export class PlaybackSessions {
  private readonly lastSeen = new Map<string, number>();
  constructor(
    private readonly monotonic: () => number = () => performance.now(),
    private readonly sessionMs = PLAYBACK_SESSION_MS,
  ) {}

  /** True when this request starts a new session of `who` watching `what`. */
  touch(who: string, what: string): boolean {
    const key = JSON.stringify([who, what]);
    const now = this.monotonic();
    const prev = this.lastSeen.get(key);
    this.lastSeen.set(key, now);
    if (this.lastSeen.size > 10_000) {
      for (const [k, t] of this.lastSeen) if (now - t > this.sessionMs) this.lastSeen.delete(k);
    }
    return prev === undefined || now - prev > this.sessionMs;
  }
}
