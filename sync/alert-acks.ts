/**
 * The room's side of a technician's acknowledgement (docs/sync.md, "Alerts"):
 * the cloud sends `down/alert-acks` once an alert is acknowledged; for a help
 * request the edge puts a `help-acknowledged` alert on the room's bus, which
 * the kiosk shows ("技术人员已收到报修"), so the teacher who asked knows it
 * was seen. It is not logged as an event (it came from the district, and an
 * alert event would go back up as a new open alert). A malformed or
 * misaddressed message is rejected, counted and logged.
 */
import type { AlertMessage } from '../edge/schemas/bus.js';
import type { Clock } from '../edge/util/clock.js';
import type { Logger } from '../edge/util/logger.js';
import { alertAckMessageSchema, decodeMessage } from './protocol.js';

export interface AlertAckDeps {
  roomId: string;
  clock: Clock;
  logger: Logger;
  /** Publishes an alert on the room's bus only (not the event log). */
  publishAlert: (alert: AlertMessage) => Promise<void>;
  /** A message that was not a valid acknowledgement for this room (counted as a sync error). */
  onRejected?: (reason: string) => void;
  newId: () => string;
}

/** The downlink handler: `(topic, payload)` as Uplink.subscribe calls it. */
export function alertAckHandler(deps: AlertAckDeps): (topic: string, payload: Buffer) => Promise<void> {
  const log = deps.logger.child({ ns: 'edge:alert-acks' });
  return async (topic, payload) => {
    const decoded = decodeMessage(alertAckMessageSchema, payload);
    const reason = !decoded.ok
      ? `${decoded.error.code}: ${decoded.error.message}`
      : decoded.value.roomId !== deps.roomId
        ? `an acknowledgement for room ${decoded.value.roomId} is not for room ${deps.roomId}`
        : null;
    if (!decoded.ok || reason !== null) {
      deps.onRejected?.(reason ?? 'invalid');
      log.warn({ topic, reason }, 'alert acknowledgement rejected');
      return;
    }
    const ack = decoded.value;
    log.info({ alertId: ack.alertId, code: ack.code, technician: ack.technician }, 'alert acknowledged by a technician');
    if (ack.code !== 'help-request') return;
    await deps.publishAlert({
      id: deps.newId(),
      ts: deps.clock.now(),
      severity: 'info',
      code: 'help-acknowledged',
      message: `technician ${ack.technician} has seen the help request`,
      data: { alertId: ack.alertId, technician: ack.technician, ackedAt: ack.ackedAt },
    });
  };
}
