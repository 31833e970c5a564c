/**
 * A small tus 1.0.0 client over node:http(s) for the edge's recording
 * uploader (sync/recording-upload.ts): creation (POST), HEAD to learn the
 * server's offset, PATCH of a byte range of a file. node:http rather than
 * fetch: a private district CA (`ca`) and an exact count of the body bytes
 * written, which the resume tests assert on.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import {
  HASH_MISMATCH_STATUS,
  RECORDING_SHA256_HEADER,
  RECORDING_STATUS_HEADER,
  RECORDING_UPLOADS_PATH,
  TUS_VERSION,
  encodeUploadMetadata,
} from './recording-protocol.js';

export class UploadHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}${body ? `: ${body.trim().slice(0, 300)}` : ''}`);
  }
  get hashMismatch(): boolean {
    return this.status === HASH_MISMATCH_STATUS;
  }
}

/** Awaited before `n` body bytes are written (may reject on abort). */
export type Pace = (n: number, signal: AbortSignal) => Promise<void>;

export type CreateResult = { kind: 'created'; url: string } | { kind: 'complete'; sha256: string | null };
export type HeadResult = { kind: 'upload'; offset: number; length: number | null } | { kind: 'gone' };
export interface PatchResult {
  offset: number;
  /** Set when the server finished the upload: the sha256 it verified. */
  complete: { sha256: string | null } | null;
}

/** What the uploader needs of a tus server; the unit tests give a fake. */
export interface TusTransport {
  create(metadata: Record<string, string>, size: number, signal: AbortSignal): Promise<CreateResult>;
  head(url: string, signal: AbortSignal): Promise<HeadResult>;
  /**
   * Sends bytes [offset, end) of `file`; onBytes is called with each chunk's length as it is
   * written. `pace`, when given, is awaited before each chunk goes out (the bandwidth cap's token
   * bucket, sync/recording-upload-pacing.ts).
   */
  patch(url: string, file: string, offset: number, end: number, signal: AbortSignal, onBytes: (n: number) => void, pace?: Pace): Promise<PatchResult>;
}

export interface HttpTusOptions {
  /** The cloud API's base URL, e.g. https://edu-cloud.example.cn:8443 */
  baseUrl: string;
  roomId: string;
  /** The room's upload token secret (from a 0600 file; never logged). */
  token: string;
  /** PEM of the district CA, for an HTTPS API with a private CA. */
  ca?: string | Buffer;
  /** A request with no progress for this long is aborted (default 60 s). */
  idleTimeoutMs?: number;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const header = (h: http.IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

export class HttpTusTransport implements TusTransport {
  private readonly base: URL;
  constructor(private readonly opts: HttpTusOptions) {
    this.base = new URL(RECORDING_UPLOADS_PATH, opts.baseUrl);
  }

  private request(method: string, url: URL, headers: Record<string, string>, signal: AbortSignal, body?: NodeJS.ReadableStream, onBytes?: (n: number) => void, pace?: Pace): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, {
        method,
        headers: { 'Tus-Resumable': TUS_VERSION, Authorization: `Bearer ${this.opts.roomId}:${this.opts.token}`, ...headers },
        signal,
        ...(url.protocol === 'https:' && this.opts.ca ? { ca: this.opts.ca } : {}),
      });
      req.setTimeout(this.opts.idleTimeoutMs ?? 60_000, () => req.destroy(new Error(`${method} ${url.pathname}: no progress for ${this.opts.idleTimeoutMs ?? 60_000} ms`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (chunks.length < 64) chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      if (!body) {
        req.end();
        return;
      }
      if (!pace) {
        body.on('data', (c: Buffer) => onBytes?.(c.length));
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
        return;
      }
      // Paced: each read waits for the bucket before it is written, and for the socket to drain after.
      void (async () => {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          await pace(chunk.length, signal);
          onBytes?.(chunk.length);
          if (req.write(chunk)) continue;
          await new Promise<void>((resolve, reject) => {
            const onDrain = () => {
              req.off('close', onClose);
              resolve();
            };
            const onClose = () => {
              req.off('drain', onDrain);
              reject(new Error('the request closed while sending'));
            };
            req.once('drain', onDrain);
            req.once('close', onClose);
          });
        }
        req.end();
      })().catch((e: unknown) => req.destroy(e instanceof Error ? e : new Error(String(e))));
    });
  }

  async create(metadata: Record<string, string>, size: number, signal: AbortSignal): Promise<CreateResult> {
    const a = await this.request('POST', this.base, { 'Upload-Length': String(size), 'Upload-Metadata': encodeUploadMetadata(metadata) }, signal);
    const complete = header(a.headers, RECORDING_STATUS_HEADER) === 'complete';
    if (a.status === 200 && complete) return { kind: 'complete', sha256: header(a.headers, RECORDING_SHA256_HEADER) ?? null };
    if (a.status !== 201) throw new UploadHttpError(a.status, a.body, 'creating the upload');
    // An empty segment is finished by its creation.
    if (complete) return { kind: 'complete', sha256: header(a.headers, RECORDING_SHA256_HEADER) ?? null };
    const location = header(a.headers, 'location');
    if (!location) throw new UploadHttpError(a.status, 'no Location header', 'creating the upload');
    return { kind: 'created', url: new URL(location, this.base).toString() };
  }

  async head(url: string, signal: AbortSignal): Promise<HeadResult> {
    const a = await this.request('HEAD', new URL(url), {}, signal);
    if (a.status === 404 || a.status === 410) return { kind: 'gone' };
    if (a.status !== 200 && a.status !== 204) throw new UploadHttpError(a.status, a.body, 'asking the upload offset');
    const offset = Number(header(a.headers, 'upload-offset'));
    if (!Number.isSafeInteger(offset) || offset < 0) throw new UploadHttpError(a.status, 'no valid Upload-Offset', 'asking the upload offset');
    const len = header(a.headers, 'upload-length');
    return { kind: 'upload', offset, length: len === undefined ? null : Number(len) };
  }

  async patch(url: string, file: string, offset: number, end: number, signal: AbortSignal, onBytes: (n: number) => void, pace?: Pace): Promise<PatchResult> {
    const body = end > offset ? createReadStream(file, { start: offset, end: end - 1, highWaterMark: 64 * 1024 }) : undefined;
    const headers = { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(end - offset) };
    const a = await this.request('PATCH', new URL(url), headers, signal, body, onBytes, pace);
    if (a.status !== 204 && a.status !== 200) throw new UploadHttpError(a.status, a.body, `sending bytes ${offset}..${end}`);
    const next = Number(header(a.headers, 'upload-offset'));
    if (!Number.isSafeInteger(next)) throw new UploadHttpError(a.status, 'no valid Upload-Offset', `sending bytes ${offset}..${end}`);
    const complete = header(a.headers, RECORDING_STATUS_HEADER) === 'complete';
    return { offset: next, complete: complete ? { sha256: header(a.headers, RECORDING_SHA256_HEADER) ?? null } : null };
  }
}
