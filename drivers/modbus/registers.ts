/**
 * Register maps as configuration: which registers hold which metric, and how
 * to turn 16-bit words into a number.
 *
 * Modbus (Application Protocol V1.1b3 §4.2) sends each 16-bit register big
 * endian; 32-bit values span two registers in a vendor-defined word order
 * ("big": high word first, "little": low word first). value = raw * scale +
 * offset.
 *
 * Shipped profiles replace a register list for common sensors:
 * - 'xy-md02' (XY-MD02 temperature/humidity transmitter, vendor manual:
 *   input registers, FC04: 0x0001 temperature int16 x0.1 °C, 0x0002 humidity
 *   x0.1 %RH).
 */
import { z } from 'zod';
import { LIMITS, type ReadRequest } from './codec.js';

export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];
export type WordOrder = 'big' | 'little';

export const registerSpecSchema = z
  .object({
    /** Metric name, also the last level of the sensor topic. */
    metric: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-" only'),
    unit: z.string().max(16),
    /** 3 = holding registers, 4 = input registers. */
    function: z.union([z.literal(3), z.literal(4)]),
    address: z.number().int().min(0).max(0xffff),
    type: z.enum(REGISTER_TYPES),
    wordOrder: z.enum(['big', 'little']).default('big'),
    scale: z.number().finite().default(1),
    offset: z.number().finite().default(0),
  })
  .strict()
  .refine((r) => r.address + registerCount(r.type) <= 0x10000, { message: 'register runs past address 0xFFFF' });
export type RegisterSpec = z.infer<typeof registerSpecSchema>;

export const PROFILES = {
  'xy-md02': [
    { metric: 'temperature', unit: '°C', function: 4, address: 0x0001, type: 'int16', wordOrder: 'big', scale: 0.1, offset: 0 },
    { metric: 'humidity', unit: '%RH', function: 4, address: 0x0002, type: 'uint16', wordOrder: 'big', scale: 0.1, offset: 0 },
  ],
} as const satisfies Record<string, readonly RegisterSpec[]>;
export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as [ProfileName, ...ProfileName[]];

export function registerCount(type: RegisterType): 1 | 2 {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}

/** Clean binary-to-decimal noise (0.1 * 3 = 0.30000000000000004) without losing real precision. */
const tidy = (v: number, digits: number): number => Number(v.toPrecision(digits));

/** Decode the raw value of `type` from its words (each 0..65535). */
export function decodeRaw(type: RegisterType, wordOrder: WordOrder, words: readonly number[]): number {
  const w0 = words[0] ?? 0;
  const w1 = words[1] ?? 0;
  if (type === 'uint16') return w0 & 0xffff;
  if (type === 'int16') return (w0 << 16) >> 16;
  const [hi, lo] = wordOrder === 'big' ? [w0, w1] : [w1, w0];
  const b = Buffer.alloc(4);
  b.writeUInt16BE(hi & 0xffff, 0);
  b.writeUInt16BE(lo & 0xffff, 2);
  if (type === 'uint32') return b.readUInt32BE(0);
  if (type === 'int32') return b.readInt32BE(0);
  // float32 carries ~7 significant digits; say so instead of printing 21.299999237060547.
  return tidy(b.readFloatBE(0), 7);
}

/** The engineering value of a register: raw * scale + offset. */
export function decodeRegister(spec: Pick<RegisterSpec, 'type' | 'wordOrder' | 'scale' | 'offset'>, words: readonly number[]): number {
  const raw = decodeRaw(spec.type, spec.wordOrder, words);
  if (spec.scale === 1 && spec.offset === 0) return raw;
  return tidy(raw * spec.scale + spec.offset, 12);
}

/** Words holding `raw` as `type` (inverse of decodeRaw; for simulators and tests). */
export function encodeRaw(type: RegisterType, wordOrder: WordOrder, raw: number): number[] {
  if (type === 'uint16' || type === 'int16') return [Math.round(raw) & 0xffff];
  const b = Buffer.alloc(4);
  if (type === 'float32') b.writeFloatBE(raw, 0);
  else if (type === 'uint32') b.writeUInt32BE(Math.round(raw) >>> 0, 0);
  else b.writeInt32BE(Math.round(raw) | 0, 0);
  const hi = b.readUInt16BE(0);
  const lo = b.readUInt16BE(2);
  return wordOrder === 'big' ? [hi, lo] : [lo, hi];
}

export interface ReadBlock {
  request: ReadRequest;
  /** The registers decoded from this block, with their first word's index in it. */
  items: Array<{ spec: RegisterSpec; index: number }>;
}

/**
 * Group registers into as few reads as possible: registers of the same
 * function that are adjacent or overlap share one request, up to 125 words
 * (§6.3/§6.4). Gaps are not bridged: an unmapped register in between could
 * make the device answer "illegal data address" for the whole block.
 */
export function planReads(specs: readonly RegisterSpec[], maxWords: number = LIMITS.readRegisters): ReadBlock[] {
  const sorted = [...specs].sort((a, b) => a.function - b.function || a.address - b.address);
  const blocks: ReadBlock[] = [];
  let cur: ReadBlock | undefined;
  for (const spec of sorted) {
    const end = spec.address + registerCount(spec.type);
    if (cur && cur.request.fc === spec.function && spec.address <= cur.request.address + cur.request.quantity) {
      const newQuantity = Math.max(cur.request.quantity, end - cur.request.address);
      if (newQuantity <= maxWords) {
        cur.request.quantity = newQuantity;
        cur.items.push({ spec, index: spec.address - cur.request.address });
        continue;
      }
    }
    cur = { request: { fc: spec.function, address: spec.address, quantity: registerCount(spec.type) }, items: [{ spec, index: 0 }] };
    blocks.push(cur);
  }
  return blocks;
}
