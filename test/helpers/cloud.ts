/**
 * The reference district cloud as its operators run it: `classroom-edge cloud
 * start --config FILE` in a child process (dist/ build), and a read-only view
 * of its SQLite database for assertions. Tests read the tables directly, not
 * through CloudStore, so they do not depend on the store's programming
 * interface — only on the documented tables (docs/sync.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { CLI, requireBuilt } from './cli.js';
import type { CloudEventRow } from '../../sync/cloud/store.js';

export interface CloudProcess {
  child: ChildProcess;
  /** The technician API's port, from the "started" log line. */
  apiPort: number;
  output(): string;
  /** SIGTERM, then wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL (a crash: nothing is shut down cleanly), then wait for the exit. */
  kill(): Promise<void>;
}

/** Starts `classroom-edge cloud start --config FILE` and waits for its "ingest started" log line. */
export function startCloudProcess(configFile: string, timeoutMs = 30_000): Promise<CloudProcess> {
  requireBuilt();
  const child = spawn(process.execPath, [CLI, 'cloud', 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-200_000);
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  return new Promise<CloudProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the cloud did not start within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      keep(b);
      for (const line of out.split('\n')) {
        if (!line.includes('"district cloud ingest started"')) continue;
        const rec = JSON.parse(line) as { apiPort: number };
        clearTimeout(timer);
        resolve({ child, apiPort: rec.apiPort, output: () => out, stop, kill });
        return;
      }
    });
    child.stderr!.on('data', keep);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the cloud exited with ${child.exitCode ?? child.signalCode} before starting; output:\n${out}`));
    });
  });
}

/** An event as the tests read it back from the cloud's table. */
export type CloudEvent = Omit<CloudEventRow, 'roomId' | 'receivedAt'>;

/** Read-only queries on the cloud's SQLite database (while the cloud process writes it, WAL). */
export class CloudDb {
  readonly db: Database.Database;
  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
  }

  events(roomId: string): CloudEvent[] {
    return this.db
      .prepare<[string], { store_id: string; seq: number; stream: string; type: string; entity_id: string | null; payload: string; ts: number; clock_synced: number; boot_id: string }>(
        'SELECT store_id, seq, stream, type, entity_id, payload, ts, clock_synced, boot_id FROM events WHERE room_id = ? ORDER BY store_id, seq',
      )
      .all(roomId)
      .map((r) => ({ storeId: r.store_id, seq: r.seq, stream: r.stream, type: r.type, entityId: r.entity_id, payload: r.payload, ts: r.ts, clockSynced: r.clock_synced === 1, bootId: r.boot_id }));
  }

  ackedSeq(roomId: string, storeId: string): number {
    return this.db.prepare<[string, string], { acked_seq: number }>('SELECT acked_seq FROM rooms WHERE room_id = ? AND store_id = ?').get(roomId, storeId)?.acked_seq ?? 0;
  }

  receipts(roomId: string): Array<{ lessonId: string; revision: number; state: string; differences: string | null }> {
    return this.db
      .prepare<[string], { lesson_id: string; revision: number; state: string; differences: string | null }>(
        'SELECT lesson_id, revision, state, differences FROM receipts WHERE room_id = ? ORDER BY receipt_seq',
      )
      .all(roomId)
      .map((r) => ({ lessonId: r.lesson_id, revision: r.revision, state: r.state, differences: r.differences }));
  }

  audit(commandId: string): Array<{ technician: string; role: string; roomId: string; action: string; outcome: string }> {
    return this.db
      .prepare<[string], { technician: string; role: string; room_id: string; action: string; outcome: string }>(
        'SELECT technician, role, room_id, action, outcome FROM cloud_audit WHERE command_id = ? ORDER BY id',
      )
      .all(commandId)
      .map((r) => ({ technician: r.technician, role: r.role, roomId: r.room_id, action: r.action, outcome: r.outcome }));
  }

  refusals(roomId: string): Array<{ technician: string; action: string; detail: string | null }> {
    return this.db
      .prepare<[string], { technician: string; action: string; detail: string | null }>("SELECT technician, action, detail FROM cloud_audit WHERE room_id = ? AND outcome = 'refused' ORDER BY id")
      .all(roomId);
  }

  command(id: string): { status: string; result: unknown; roomId: string } | undefined {
    const r = this.db.prepare<[string], { status: string; result: string | null; room_id: string }>('SELECT status, result, room_id FROM commands WHERE id = ?').get(id);
    return r && { status: r.status, result: r.result === null ? null : (JSON.parse(r.result) as unknown), roomId: r.room_id };
  }

  configPushes(roomId: string): Array<{ version: number; issuedBy: string; outcome: string | null; result: Record<string, unknown> | null }> {
    return this.db
      .prepare<[string], { version: number; issued_by: string; outcome: string | null; result: string | null }>(
        'SELECT version, issued_by, outcome, result FROM config_pushes WHERE room_id = ? ORDER BY version',
      )
      .all(roomId)
      .map((r) => ({ version: r.version, issuedBy: r.issued_by, outcome: r.outcome, result: r.result === null ? null : (JSON.parse(r.result) as Record<string, unknown>) }));
  }

  clockOffsets(roomId: string): Array<{ storeId: string; offsetMs: number; skewed: boolean }> {
    return this.db
      .prepare<[string], { store_id: string; offset_ms: number; skewed: number }>('SELECT store_id, offset_ms, skewed FROM clock_offsets WHERE room_id = ?')
      .all(roomId)
      .map((r) => ({ storeId: r.store_id, offsetMs: r.offset_ms, skewed: r.skewed === 1 }));
  }

  /** The devices the cloud knows of a room (from their telemetry in room_status), by id. */
  devices(roomId: string): Array<{ deviceId: string; online: boolean | null }> {
    return this.db
      .prepare<[string], { key: string; payload: string }>("SELECT key, payload FROM room_status WHERE room_id = ? AND key LIKE 'device:%' ORDER BY key")
      .all(roomId)
      .map((r) => {
        const online = (JSON.parse(r.payload) as { state?: { online?: unknown } }).state?.online;
        return { deviceId: r.key.slice('device:'.length), online: typeof online === 'boolean' ? online : null };
      });
  }

  close(): void {
    this.db.close();
  }
}

/** The fields of the technician API's JSON answers that tests read (docs/sync.md, "The cloud: technicians, scope, API"). */
export interface CloudApiAnswer {
  id: string;
  status?: string;
  rooms?: Array<{ roomId: string; online: boolean; alerts?: { count: number; helpRequests: number; open: Array<{ id: string | null; code: string }> } }>;
  devices?: Array<{ deviceId: string; online: boolean }>;
  entries?: Array<Record<string, unknown>>;
  error?: { code: string; message: string };
  result?: { records?: unknown[]; [key: string]: unknown };
  [key: string]: unknown;
}
