/**
 * The service stamps each event with the clock's NTP state at that moment
 * (edge/util/clock-sync.ts, injected here): `event_log.clock_synced`, which
 * the cloud's clock-skew correction relies on (docs/sync.md, "Clock skew").
 */
import { afterEach, expect, it } from 'vitest';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { startService, type RunningService } from '../../edge/service.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { tempRoom, type TempRoom } from '../helpers/room.js';

let room: TempRoom | undefined;
let svc: RunningService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
  room?.cleanup();
  room = undefined;
});

it('events are stamped clockSynced as the clock probe says at the moment they are written', async () => {
  room = tempRoom();
  const registry = builtinDrivers();
  let synced = false;
  svc = await startService({ config: loadConfigText(room.yaml, room.configFile, registry), registry, logger: silentLogger(), clock: systemClock, clockSync: { synced: () => synced } });
  const audit = (target: string) => svc!.store.recordAudit({ actor: 'tech', role: 'technician', action: 'test', target, args: {}, result: 'ok', ts: Date.now() });
  const a = await audit('before-ntp');
  synced = true;
  const b = await audit('after-ntp');
  const rows = svc.store.eventsAfter(0, 10_000);
  expect(rows.find((e) => e.seq === a.seq)?.clockSynced).toBe(false);
  expect(rows.find((e) => e.seq === b.seq)?.clockSynced).toBe(true);
});
