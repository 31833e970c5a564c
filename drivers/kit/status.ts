/**
 * A display's status beyond power: each item read in turn, only while the
 * display is on (in standby most answer nothing but power). A set without one
 * of the functions answers a refusal (NAK/NG) for it: that item is left out and
 * the rest of the status kept.
 */
import type { StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import type { Session } from './definition.js';

export async function readStatusItems<O, Req, Rep>(s: Session<O, Req, Rep>, patch: StatePatch, requests: readonly Req[]): Promise<StatePatch> {
  if (patch.power !== 'on') return patch;
  for (const req of requests) {
    try {
      const r = await s.request(req);
      if (r) Object.assign(patch, s.decode(req, r));
    } catch (e) {
      if (!(e instanceof DeviceError) || e.code !== 'nak') throw e;
      s.log.debug({ request: req, err: e }, 'status item not available');
    }
  }
  return patch;
}
