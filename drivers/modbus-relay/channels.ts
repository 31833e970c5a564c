/**
 * Relay-board channels: names -> coil addresses, and how to read or write a
 * set of channels in as few Modbus requests as the Application Protocol
 * allows (FC01 Read Coils §6.1: ≤ 2000 coils; FC05 Write Single Coil §6.5;
 * FC0F Write Multiple Coils §6.11: ≤ 1968 coils). Like register reads, runs
 * of coils are not bridged over gaps: a board answers exception 02 for a
 * coil it does not have.
 */
import { LIMITS, type ModbusRequest } from '../modbus/codec.js';

export interface Channel {
  name: string;
  coil: number;
}

/** `{ name: coil }`, or a count N: channels "1".."N" on coils 0..N-1 (relay 1 = coil 0 on most boards). */
export function channelList(channels: Record<string, number> | number): Channel[] {
  if (typeof channels === 'number') return Array.from({ length: channels }, (_, i) => ({ name: String(i + 1), coil: i }));
  return Object.entries(channels).map(([name, coil]) => ({ name, coil }));
}

/** Channels grouped into runs of consecutive coils (sorted by coil), each at most `max` long. */
export function coilRuns(channels: readonly Channel[], max: number): Channel[][] {
  const sorted = [...channels].sort((a, b) => a.coil - b.coil);
  const runs: Channel[][] = [];
  let cur: Channel[] = [];
  for (const ch of sorted) {
    const last = cur[cur.length - 1];
    if (last && ch.coil === last.coil + 1 && cur.length < max) cur.push(ch);
    else {
      if (cur.length > 0) runs.push(cur);
      cur = [ch];
    }
  }
  if (cur.length > 0) runs.push(cur);
  return runs;
}

export interface CoilRead {
  request: ModbusRequest & { fc: 1 };
  channels: Channel[];
}

/** FC01 requests that read every channel. */
export function planCoilReads(channels: readonly Channel[]): CoilRead[] {
  return coilRuns(channels, LIMITS.readBits).map((run) => ({
    request: { fc: 1, address: run[0]?.coil ?? 0, quantity: run.length },
    channels: run,
  }));
}

/** Requests that switch `channels` to `on`: FC05 for a lone coil, FC0F for a run. */
export function planCoilWrites(channels: readonly Channel[], on: boolean): Array<{ request: ModbusRequest; channels: Channel[] }> {
  return coilRuns(channels, LIMITS.writeCoils).map((run) => ({
    request:
      run.length === 1
        ? { fc: 5, address: run[0]?.coil ?? 0, value: on }
        : { fc: 15, address: run[0]?.coil ?? 0, values: run.map(() => on) },
    channels: run,
  }));
}

/** State key of a channel: `on.<name>`. */
export const stateKey = (name: string): string => `on.${name}`;
