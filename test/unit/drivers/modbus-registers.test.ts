/**
 * Register maps: decoding words into engineering values, and grouping
 * registers into as few reads as possible.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeRaw,
  decodeRegister,
  encodeRaw,
  planReads,
  PROFILES,
  registerSpecSchema,
  type RegisterSpec,
} from '../../../drivers/modbus/registers.js';
import { modbusRtuOptionsSchema, resolveRegisters } from '../../../drivers/modbus-rtu/driver.js';

const spec = (s: Partial<RegisterSpec> & Pick<RegisterSpec, 'address' | 'type'>): RegisterSpec =>
  registerSpecSchema.parse({ metric: `m${s.address}`, unit: '', function: 4, ...s });

describe('register decoding', () => {
  it('int16 negative values (two’s complement)', () => {
    expect(decodeRaw('int16', 'big', [0xff92])).toBe(-110);
    expect(decodeRegister(spec({ address: 1, type: 'int16', scale: 0.1 }), [0xff92])).toBe(-11);
    expect(decodeRaw('int16', 'big', [0x8000])).toBe(-32768);
    expect(decodeRaw('uint16', 'big', [0xff92])).toBe(65426);
  });

  it('float32 in both word orders', () => {
    // 412.5 = 0x43CE4000
    expect(decodeRaw('float32', 'big', [0x43ce, 0x4000])).toBe(412.5);
    expect(decodeRaw('float32', 'little', [0x4000, 0x43ce])).toBe(412.5);
    expect(decodeRaw('float32', 'big', [0x4000, 0x43ce])).not.toBe(412.5);
    // 21.3f is 21.299999237060547 as a double: shown to float precision
    expect(decodeRaw('float32', 'big', encodeRaw('float32', 'big', 21.3))).toBe(21.3);
  });

  it('int32 and uint32 across two registers', () => {
    expect(decodeRaw('uint32', 'big', [0x0001, 0x0000])).toBe(65536);
    expect(decodeRaw('uint32', 'little', [0x0000, 0x0001])).toBe(65536);
    expect(decodeRaw('int32', 'big', [0xffff, 0xfffe])).toBe(-2);
    expect(decodeRaw('uint32', 'big', [0xffff, 0xfffe])).toBe(4294967294);
  });

  it('applies scale and offset without binary noise', () => {
    expect(decodeRegister(spec({ address: 0, type: 'uint16', scale: 0.1 }), [3])).toBe(0.3);
    expect(decodeRegister(spec({ address: 0, type: 'uint16', scale: 0.1 }), [215])).toBe(21.5);
    expect(decodeRegister(spec({ address: 0, type: 'int16', scale: 0.01, offset: -40 }), [6543])).toBe(25.43);
    expect(decodeRegister(spec({ address: 0, type: 'uint16', scale: 2, offset: 1 }), [10])).toBe(21);
  });

  it('encodeRaw is the inverse of decodeRaw', () => {
    for (const [type, v] of [['int16', -5], ['uint16', 65535], ['int32', -100000], ['uint32', 3000000000], ['float32', -0.5]] as const) {
      for (const order of ['big', 'little'] as const) expect(decodeRaw(type, order, encodeRaw(type, order, v))).toBe(v);
    }
  });
});

describe('register specs and options', () => {
  it('defaults word order, scale, offset; refuses bad specs', () => {
    expect(registerSpecSchema.parse({ metric: 'co2', unit: 'ppm', function: 4, address: 0x100, type: 'float32' })).toEqual({
      metric: 'co2', unit: 'ppm', function: 4, address: 0x100, type: 'float32', wordOrder: 'big', scale: 1, offset: 0,
    });
    expect(registerSpecSchema.safeParse({ metric: 'x', unit: '', function: 2, address: 0, type: 'int16' }).success).toBe(false);
    expect(registerSpecSchema.safeParse({ metric: 'x', unit: '', function: 3, address: 0xffff, type: 'int32' }).success).toBe(false);
    expect(registerSpecSchema.safeParse({ metric: 'a/b', unit: '', function: 3, address: 0, type: 'int16' }).success).toBe(false);
  });

  it('needs a profile or registers; explicit registers override profile entries by metric', () => {
    expect(modbusRtuOptionsSchema.safeParse({ unitId: 1 }).success).toBe(false);
    expect(modbusRtuOptionsSchema.safeParse({ unitId: 0, profile: 'xy-md02' }).success).toBe(false);
    const o = modbusRtuOptionsSchema.parse({
      unitId: 7,
      profile: 'xy-md02',
      registers: [{ metric: 'humidity', unit: '%', function: 3, address: 9, type: 'uint16' }],
    });
    expect(resolveRegisters(o).map((r) => [r.metric, r.function, r.address])).toEqual([
      ['temperature', 4, 1],
      ['humidity', 3, 9],
    ]);
    expect(PROFILES['xy-md02'][0]).toMatchObject({ function: 4, address: 1, type: 'int16', scale: 0.1, unit: '°C' });
    const dup = { metric: 'a', unit: '', function: 3, address: 0, type: 'int16' };
    expect(modbusRtuOptionsSchema.safeParse({ unitId: 1, registers: [dup, { ...dup, address: 1 }] }).success).toBe(false);
  });
});

describe('planReads', () => {
  it('groups adjacent registers of one function into one read, not across gaps or functions', () => {
    const plan = planReads([
      spec({ address: 2, type: 'uint16' }),
      spec({ address: 0, type: 'float32' }),
      spec({ address: 10, type: 'int16' }),
      spec({ address: 0, type: 'int16', function: 3, metric: 'h0' }),
    ]);
    expect(plan.map((p) => p.request)).toEqual([
      { fc: 3, address: 0, quantity: 1 },
      { fc: 4, address: 0, quantity: 3 },
      { fc: 4, address: 10, quantity: 1 },
    ]);
    expect(plan[1]!.items.map((i) => [i.spec.address, i.index])).toEqual([[0, 0], [2, 2]]);
  });

  it('overlapping registers share a read; blocks stay within 125 words', () => {
    const over = planReads([spec({ address: 0, type: 'uint32' }), spec({ address: 1, type: 'uint16', metric: 'lo' })]);
    expect(over.map((p) => p.request)).toEqual([{ fc: 4, address: 0, quantity: 2 }]);
    const many = planReads(Array.from({ length: 130 }, (_, i) => spec({ address: i, type: 'uint16' })));
    expect(many.map((p) => p.request)).toEqual([
      { fc: 4, address: 0, quantity: 125 },
      { fc: 4, address: 125, quantity: 5 },
    ]);
  });
});
