/**
 * The room's side of an alert acknowledgement (sync/alert-acks.ts): a help
 * request's acknowledgement becomes a `help-acknowledged` alert on the room's
 * bus (for the kiosk); other acknowledgements are only logged; a malformed or
 * misaddressed message is rejected and counted, and nothing is published.
 */
import { describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../../edge/schemas/bus.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { alertAckHandler } from '../../../sync/alert-acks.js';
import { districtTopics, encodeMessage, parseDistrictTopic } from '../../../sync/protocol.js';

const ROOM = 'jy-0101-r203';
const T = 1_760_000_000_000;

function setup() {
  const alerts: AlertMessage[] = [];
  const rejected: string[] = [];
  const handle = alertAckHandler({
    roomId: ROOM,
    clock: { now: () => T + 5, monotonic: () => 0 },
    logger: silentLogger(),
    newId: () => 'new-id',
    publishAlert: async (a) => void alerts.push(a),
    onRejected: (r) => rejected.push(r),
  });
  const topic = districtTopics(ROOM).alertAcks;
  return { alerts, rejected, send: (msg: unknown) => handle(topic, typeof msg === 'string' ? Buffer.from(msg) : encodeMessage(msg as object)) };
}

const ack = (over: object = {}) => ({ v: 1, roomId: ROOM, alertId: 'a-1', code: 'help-request', technician: 'wang', ackedAt: T, ...over });

describe('alert acknowledgements at the edge', () => {
  it('the topic is a room downlink', () => {
    expect(parseDistrictTopic(districtTopics(ROOM).alertAcks)).toEqual({ kind: 'alert-acks', roomId: ROOM });
  });

  it("a help request's acknowledgement is shown on the room's bus", async () => {
    const { alerts, rejected, send } = setup();
    await send(ack());
    expect(alerts).toEqual([
      { id: 'new-id', ts: T + 5, severity: 'info', code: 'help-acknowledged', message: 'technician wang has seen the help request', data: { alertId: 'a-1', technician: 'wang', ackedAt: T } },
    ]);
    expect(rejected).toEqual([]);
  });

  it('the acknowledgement of another alert is not shown', async () => {
    const { alerts, send } = setup();
    await send(ack({ code: 'unknown-card' }));
    expect(alerts).toEqual([]);
  });

  it('malformed, misaddressed or forged messages are rejected and counted', async () => {
    const { alerts, rejected, send } = setup();
    await send('not json');
    await send(ack({ roomId: 'jy-0202-r101' }));
    await send(ack({ technician: 'wang <script>' }));
    await send(ack({ extra: true }));
    expect(alerts).toEqual([]);
    expect(rejected).toHaveLength(4);
    expect(rejected[1]).toContain('not for room jy-0101-r203');
  });
});
