/** The kiosk's ventilation rule (kiosk/ui/env.ts): the latest reading per metric against the room's thresholds. */
import { describe, expect, it } from 'vitest';
import { latestByMetric, needsVentilation } from '../../../kiosk/ui/env.js';

const r = (metric: string, value: number, ts: number) => ({ device: 'air', metric, value, unit: '', ts });
const limits = { co2Ppm: 1000, pm25: 75 };

describe('kiosk ventilation', () => {
  it('uses the latest reading of each metric', () => {
    const latest = latestByMetric([r('co2', 1500, 1), r('co2', 800, 2), r('temperature', 24, 1)]);
    expect(latest.get('co2')?.value).toBe(800);
    expect(needsVentilation(latest, limits)).toBe(false);
    expect(needsVentilation(latestByMetric([r('co2', 800, 1), r('co2', 1200, 2)]), limits)).toBe(true);
  });

  it('asks to ventilate above either threshold, not at it, and not without readings', () => {
    expect(needsVentilation(latestByMetric([r('co2', 1000, 1), r('pm25', 75, 1)]), limits)).toBe(false);
    expect(needsVentilation(latestByMetric([r('pm25', 76, 1)]), limits)).toBe(true);
    expect(needsVentilation(latestByMetric([r('temperature', 35, 1)]), limits)).toBe(false);
  });
});
