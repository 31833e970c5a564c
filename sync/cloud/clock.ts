/**
 * Clock skew of the rooms, estimated by the cloud (docs/sync.md, "Clock
 * skew"). Each batch carries `sentAt` (the edge's wall clock when that copy
 * was sent; a resend is stamped again) and the cloud notes `receivedAt`.
 * `receivedAt - sentAt` is the skew (cloud minus edge) plus the transit time,
 * and a batch that waited in the broker during an outage adds the whole wait;
 * so the estimate is the MINIMUM of that delta over a recent window (the
 * current and the previous 10-minute window of receivedAt): the fastest
 * batch is the one closest to pure skew, and an old minimum ages out when
 * the clock is corrected.
 *
 * Estimates are kept per (room, store, boot, clock synchronised at send), in
 * `clock_offsets`. A room whose latest estimate is off by more than the
 * threshold (default 2 min) is flagged (`skewed` = 1, a warning in the log).
 * Events are not rewritten: for an event stamped while the edge's clock was
 * not synchronised, the view `events_corrected` adds `offset_ms` of its boot's
 * unsynchronised estimate to `ts` (`corrected_ts`; NULL when that boot never
 * sent a batch while unsynchronised, so no estimate applies).
 */
import type { CloudDb, Queryable } from './db.js';
import type { Batch } from '../protocol.js';

export const SKEW_WINDOW_MS = 10 * 60_000;
export const DEFAULT_SKEW_THRESHOLD_MS = 2 * 60_000;

interface RawOffset {
  offset_ms: number;
  window_start: number;
  window_min: number;
  prev_min: number | null;
  samples: number;
  skewed: number;
}

export interface RoomClock {
  roomId: string;
  storeId: string;
  bootId: string;
  synced: boolean;
  offsetMs: number;
  samples: number;
  skewed: boolean;
  updatedAt: number;
}

export interface SkewChange {
  roomId: string;
  bootId: string;
  synced: boolean;
  offsetMs: number;
  skewed: boolean;
}

export class CloudClock {
  constructor(
    private readonly db: CloudDb,
    private readonly thresholdMs = DEFAULT_SKEW_THRESHOLD_MS,
  ) {}

  /** In the commit transaction: one sample. Returns a change of the room's skew flag, if any. */
  async observe(tx: Queryable, b: Batch, receivedAt: number): Promise<SkewChange | null> {
    const bootId = b.bootId ?? b.events[b.events.length - 1]!.bootId;
    const synced = b.clockSynced ?? false;
    const delta = receivedAt - b.sentAt;
    const prev = await tx.get<RawOffset>('SELECT * FROM clock_offsets WHERE room_id = ? AND store_id = ? AND boot_id = ? AND synced = ?', [b.roomId, b.storeId, bootId, synced ? 1 : 0]);
    let windowStart = prev?.window_start ?? receivedAt;
    let windowMin = prev ? Math.min(prev.window_min, delta) : delta;
    let prevMin = prev?.prev_min ?? null;
    if (prev && receivedAt - prev.window_start >= SKEW_WINDOW_MS) {
      // A new window: the finished one becomes the previous one (or nothing, after a long silence).
      prevMin = receivedAt - prev.window_start < 2 * SKEW_WINDOW_MS ? prev.window_min : null;
      windowStart = receivedAt;
      windowMin = delta;
    }
    const offset = prevMin === null ? windowMin : Math.min(windowMin, prevMin);
    const skewed = Math.abs(offset) > this.thresholdMs;
    await tx.run(
      `INSERT INTO clock_offsets (room_id, store_id, boot_id, synced, offset_ms, window_start, window_min, prev_min, samples, skewed, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id, store_id, boot_id, synced) DO UPDATE SET offset_ms = excluded.offset_ms, window_start = excluded.window_start,
         window_min = excluded.window_min, prev_min = excluded.prev_min, samples = excluded.samples, skewed = excluded.skewed, updated_at = excluded.updated_at`,
      [b.roomId, b.storeId, bootId, synced ? 1 : 0, offset, windowStart, windowMin, prevMin, (prev?.samples ?? 0) + 1, skewed ? 1 : 0, receivedAt],
    );
    if (prev && (prev.skewed === 1) === skewed) return null;
    if (!prev && !skewed) return null;
    return { roomId: b.roomId, bootId, synced, offsetMs: offset, skewed };
  }

  /** A room's estimates, latest first. */
  async room(roomId: string): Promise<RoomClock[]> {
    const rows = await this.db.all<RawOffset & { room_id: string; store_id: string; boot_id: string; synced: number; updated_at: number }>(
      'SELECT * FROM clock_offsets WHERE room_id = ? ORDER BY updated_at DESC',
      [roomId],
    );
    return rows.map((r) => ({
      roomId: r.room_id,
      storeId: r.store_id,
      bootId: r.boot_id,
      synced: r.synced === 1,
      offsetMs: r.offset_ms,
      samples: r.samples,
      skewed: r.skewed === 1,
      updatedAt: r.updated_at,
    }));
  }
}
