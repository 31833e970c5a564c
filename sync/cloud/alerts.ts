/**
 * The rooms' alerts in the reference cloud (docs/sync.md, "Alerts"). A room
 * raises an alert (a help request from the kiosk, an unknown card, no teacher
 * checked in, the outbox filling up, ...) as an `alert` event in its event
 * log, so it reaches the cloud exactly once like every other event. It is
 * **open** until a technician acknowledges it, through the API or the fleet
 * page; an acknowledgement is kept in `alert_acks` (cloud schema version 2)
 * and audited in `cloud_audit`. Open alerts older than ALERT_OPEN_WINDOW_MS
 * (by the cloud's receipt time, which no room clock can skew) leave the lists:
 * the fleet page shows what still needs someone, not a room's whole history.
 */
import type { Technician } from './technicians.js';
import type { CloudStore } from './store.js';
import type { Queryable } from './db.js';
import { PROTOCOL_VERSION, type AlertAckMessage } from '../protocol.js';

/** Open alerts received longer ago than this are no longer listed (they stay in `events`). */
export const ALERT_OPEN_WINDOW_MS = 7 * 24 * 3600_000;
/** Alerts shown per room in the summary (the count covers all of them). */
export const ALERTS_SHOWN = 5;

export interface RoomAlert {
  id: string | null;
  severity: string;
  code: string;
  message: string;
  ts: number;
}

export interface RoomAlerts {
  /** Open alerts, newest first, at most ALERTS_SHOWN. */
  open: RoomAlert[];
  /** All open alerts of the window, and the help requests among them. */
  count: number;
  helpRequests: number;
}

export interface AlertAck {
  roomId: string;
  alertId: string;
  technician: string;
  ackedAt: number;
  /** True when it had been acknowledged before (by `technician`, at `ackedAt`): nothing changed. */
  already: boolean;
}

export type AckOutcome = { ok: true; ack: AlertAck; code: string } | { ok: false; status: 404; reason: string };

/** Writes one cloud_audit row (CloudCommands.audit). */
export type Audit = (
  e: { technician: string; role: string; roomId: string; action: string; commandId: null; outcome: string; detail: string | null },
  q?: Queryable,
) => Promise<void>;

function parseAlert(payload: string, ts: number): RoomAlert | null {
  let p: unknown;
  try {
    p = JSON.parse(payload);
  } catch {
    return null;
  }
  if (!p || typeof p !== 'object') return null;
  const a = p as Partial<Record<string, unknown>>;
  return {
    id: typeof a.id === 'string' ? a.id : null,
    severity: typeof a.severity === 'string' ? a.severity : 'info',
    code: typeof a.code === 'string' ? a.code : 'unknown',
    message: typeof a.message === 'string' ? a.message.slice(0, 300) : '',
    ts,
  };
}

export async function openAlerts(store: CloudStore, roomId: string, now: number): Promise<RoomAlerts> {
  const rows = await store.db.all<{ payload: string; ts: number }>(
    `SELECT e.payload, e.ts FROM events e
       LEFT JOIN alert_acks k ON k.room_id = e.room_id AND k.alert_id = e.entity_id
      WHERE e.room_id = ? AND e.stream = 'alert' AND e.received_at >= ? AND k.alert_id IS NULL
      ORDER BY e.ts DESC, e.seq DESC`,
    [roomId, now - ALERT_OPEN_WINDOW_MS],
  );
  const alerts = rows.map((r) => parseAlert(r.payload, Number(r.ts))).filter((a): a is RoomAlert => a !== null);
  return { open: alerts.slice(0, ALERTS_SHOWN), count: alerts.length, helpRequests: alerts.filter((a) => a.code === 'help-request').length };
}

/**
 * Acknowledges one alert of a room (the caller has checked the technician's scope). Idempotent:
 * a second acknowledgement changes nothing and says who acknowledged it first. Audited either way.
 */
export async function acknowledgeAlert(store: CloudStore, audit: Audit, tech: Technician, roomId: string, alertId: string, now: number): Promise<AckOutcome> {
  return store.db.transaction(async (tx) => {
    const ev = await tx.get<{ payload: string; ts: number }>("SELECT payload, ts FROM events WHERE room_id = ? AND stream = 'alert' AND entity_id = ? LIMIT 1", [
      roomId,
      alertId,
    ]);
    if (!ev) return { ok: false, status: 404, reason: `room ${roomId} has no alert ${alertId}` } as const;
    const inserted = await tx.run('INSERT INTO alert_acks (room_id, alert_id, technician, acked_at) VALUES (?, ?, ?, ?) ON CONFLICT (room_id, alert_id) DO NOTHING', [
      roomId,
      alertId,
      tech.name,
      now,
    ]);
    const row = await tx.get<{ technician: string; acked_at: number }>('SELECT technician, acked_at FROM alert_acks WHERE room_id = ? AND alert_id = ?', [roomId, alertId]);
    const already = inserted.changes === 0;
    const alert = parseAlert(ev.payload, Number(ev.ts));
    await audit(
      {
        technician: tech.name,
        role: tech.role,
        roomId,
        action: 'alert.ack',
        commandId: null,
        outcome: already ? 'already-acknowledged' : 'acknowledged',
        detail: `${alertId} ${alert?.code ?? 'unknown'}${already ? ` (by ${row!.technician})` : ''}`,
      },
      tx,
    );
    return { ok: true, ack: { roomId, alertId, technician: row!.technician, ackedAt: Number(row!.acked_at), already }, code: alert?.code ?? 'unknown' } as const;
  });
}

/** The message that tells the room (docs/sync.md, "Alerts"); sent once, for the first acknowledgement. */
export function alertAckMessage(ack: AlertAck, code: string): AlertAckMessage {
  return { v: PROTOCOL_VERSION, roomId: ack.roomId, alertId: ack.alertId, code: code.slice(0, 64) || 'unknown', technician: ack.technician, ackedAt: ack.ackedAt };
}
