/**
 * Environment logic of the kiosk (no DOM, unit-tested): the latest reading
 * per metric, and whether the room needs airing (CO₂ or PM2.5 above the
 * room's `kiosk.ventilation` thresholds).
 */
import type { Reading } from './types.js';

export function latestByMetric(readings: readonly Reading[]): Map<string, Reading> {
  const out = new Map<string, Reading>();
  for (const r of readings) {
    const prev = out.get(r.metric);
    if (!prev || prev.ts < r.ts) out.set(r.metric, r);
  }
  return out;
}

export function needsVentilation(latest: ReadonlyMap<string, Reading>, limits: { co2Ppm: number; pm25: number }): boolean {
  const co2 = latest.get('co2')?.value;
  const pm = latest.get('pm25')?.value;
  return (co2 !== undefined && co2 > limits.co2Ppm) || (pm !== undefined && pm > limits.pm25);
}
