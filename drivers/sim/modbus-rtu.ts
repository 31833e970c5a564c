/**
 * Device-side simulator of Modbus RTU servers (units) sharing one line, for
 * tests and the demo room. Per the MODBUS Application Protocol V1.1b3 it
 * serves FC01 (coils), FC02 (discrete inputs), FC03 (holding registers),
 * FC04 (input registers), FC05 and FC0F (writes to coils), FC06 and FC10
 * (writes to holding registers); a read or write touching an address the unit
 * does not have gets exception 02, a bad quantity exception 03, any other
 * function exception 01 (§7). Requests for unknown unit ids and broadcasts
 * (unit 0) get no reply, as on a real bus.
 *
 * The data model of the units (ModbusUnits) is shared with the Modbus TCP
 * simulator (./modbus-tcp.ts).
 */
import type { ByteTransport } from '../transports/types.js';
import { decodeRequest, encodeException, encodeResponse, LIMITS, type ModbusRequest, type ModbusResponse } from '../modbus/codec.js';
import { RtuRequestFramer } from '../modbus/framer.js';
import { encodeRaw, type RegisterType, type WordOrder } from '../modbus/registers.js';

export type RegisterTable = 'input' | 'holding';
export type BitTable = 'coils' | 'discrete';

export interface SimUnit {
  input: Record<number, number>;
  holding: Record<number, number>;
  coils: Record<number, boolean>;
  discrete: Record<number, boolean>;
}

export interface ModbusRtuSimOptions {
  units: Record<number, Partial<SimUnit>>;
  /** Delay before answering, ms. */
  replyDelayMs?: number;
}

interface UnitState {
  input: Map<number, number>;
  holding: Map<number, number>;
  coils: Map<number, boolean>;
  discrete: Map<number, boolean>;
  silent: boolean;
}

export interface CoilWrite {
  unitId: number;
  address: number;
  value: boolean;
  /** Date.now() of the write. */
  at: number;
}

/** The registers and coils of simulated units, and how a unit answers a request. */
export class ModbusUnits {
  private readonly units = new Map<number, UnitState>();
  /** Every coil a client wrote, oldest first (FC05 and FC0F), for assertions and pulse timing. */
  readonly coilWrites: CoilWrite[] = [];

  constructor(units: Record<number, Partial<SimUnit>>) {
    for (const [id, u] of Object.entries(units)) {
      this.units.set(Number(id), {
        input: toMap(u.input ?? {}),
        holding: toMap(u.holding ?? {}),
        coils: new Map(Object.entries(u.coils ?? {}).map(([k, v]) => [Number(k), v])),
        discrete: new Map(Object.entries(u.discrete ?? {}).map(([k, v]) => [Number(k), v])),
        silent: false,
      });
    }
  }

  /** True when the unit exists and answers. */
  answers(unitId: number): boolean {
    const u = this.units.get(unitId);
    return u !== undefined && !u.silent;
  }

  setRegister(unitId: number, table: RegisterTable, address: number, value: number): void {
    this.unit(unitId)[table].set(address, Math.round(value) & 0xffff);
  }

  getRegister(unitId: number, table: RegisterTable, address: number): number | undefined {
    return this.unit(unitId)[table].get(address);
  }

  setBit(unitId: number, table: BitTable, address: number, value: boolean): void {
    this.unit(unitId)[table].set(address, value);
  }

  getBit(unitId: number, table: BitTable, address: number): boolean | undefined {
    return this.unit(unitId)[table].get(address);
  }

  setSilent(unitId: number, silent: boolean): void {
    this.unit(unitId).silent = silent;
  }

  /** A response, or an exception code (§7). */
  serve(unitId: number, req: ModbusRequest): ModbusResponse | number {
    const unit = this.unit(unitId);
    switch (req.fc) {
      case 1:
      case 2: {
        if (req.quantity < 1 || req.quantity > LIMITS.readBits) return 0x03;
        const table = req.fc === 1 ? unit.coils : unit.discrete;
        const bits: boolean[] = [];
        for (let a = req.address; a < req.address + req.quantity; a++) {
          const v = table.get(a);
          if (v === undefined) return 0x02;
          bits.push(v);
        }
        return { fc: req.fc, bits };
      }
      case 3:
      case 4: {
        if (req.quantity < 1 || req.quantity > LIMITS.readRegisters) return 0x03;
        const table = req.fc === 3 ? unit.holding : unit.input;
        const registers: number[] = [];
        for (let a = req.address; a < req.address + req.quantity; a++) {
          const v = table.get(a);
          if (v === undefined) return 0x02;
          registers.push(v);
        }
        return { fc: req.fc, registers };
      }
      case 5:
        if (!unit.coils.has(req.address)) return 0x02;
        this.writeCoil(unitId, unit, req.address, req.value);
        return { fc: 5, address: req.address, value: req.value };
      case 6:
        if (!unit.holding.has(req.address)) return 0x02;
        unit.holding.set(req.address, req.value);
        return { fc: 6, address: req.address, value: req.value };
      case 15: {
        if (req.values.length < 1 || req.values.length > LIMITS.writeCoils) return 0x03;
        if (!req.values.every((_, i) => unit.coils.has(req.address + i))) return 0x02;
        req.values.forEach((v, i) => this.writeCoil(unitId, unit, req.address + i, v));
        return { fc: 15, address: req.address, quantity: req.values.length };
      }
      case 16: {
        if (req.values.length < 1 || req.values.length > LIMITS.writeRegisters) return 0x03;
        if (!req.values.every((_, i) => unit.holding.has(req.address + i))) return 0x02;
        req.values.forEach((v, i) => unit.holding.set(req.address + i, v));
        return { fc: 16, address: req.address, quantity: req.values.length };
      }
    }
  }

  private writeCoil(unitId: number, unit: UnitState, address: number, value: boolean): void {
    unit.coils.set(address, value);
    this.coilWrites.push({ unitId, address, value, at: Date.now() });
  }

  private unit(unitId: number): UnitState {
    const u = this.units.get(unitId);
    if (!u) throw new Error(`simulated Modbus unit ${unitId} does not exist`);
    return u;
  }
}

export class ModbusRtuSim {
  /** The units' data; shared with whoever built the simulator. */
  readonly units: ModbusUnits;
  private readonly framer = new RtuRequestFramer();
  private readonly replyDelayMs: number;
  private garbageNext: Buffer | undefined;
  private pendingReply: ReturnType<typeof setTimeout> | undefined;
  /** Requests seen (unit id, function code), for assertions. */
  readonly log: Array<{ unitId: number; fc: number }> = [];
  /**
   * Requests that arrived while a reply was still pending (replyDelayMs > 0).
   * RS-485 is half duplex: on a real line both frames are garbled, so the
   * simulator drops the pending reply and answers neither.
   */
  collisions = 0;

  constructor(
    private readonly transport: ByteTransport,
    options: ModbusRtuSimOptions,
  ) {
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.units = new ModbusUnits(options.units);
    transport.on('data', this.onData);
    transport.start();
  }

  /** Set one register (0..65535; negative values are stored as two's complement). */
  setRegister(unitId: number, table: RegisterTable, address: number, value: number): void {
    this.units.setRegister(unitId, table, address, value);
  }

  /** Store a typed value over one or two registers, as a device with that register map would. */
  setValue(unitId: number, table: RegisterTable, address: number, type: RegisterType, raw: number, wordOrder: WordOrder = 'big'): void {
    encodeRaw(type, wordOrder, raw).forEach((w, i) => this.setRegister(unitId, table, address + i, w));
  }

  getRegister(unitId: number, table: RegisterTable, address: number): number | undefined {
    return this.units.getRegister(unitId, table, address);
  }

  /** Set a coil or discrete input (a relay switched by hand, an input contact). */
  setBit(unitId: number, table: BitTable, address: number, value: boolean): void {
    this.units.setBit(unitId, table, address, value);
  }

  getBit(unitId: number, table: BitTable, address: number): boolean | undefined {
    return this.units.getBit(unitId, table, address);
  }

  /** A silent unit does not answer (power loss, broken wire to that unit). */
  setSilent(unitId: number, silent: boolean): void {
    this.units.setSilent(unitId, silent);
  }

  /** Send these bytes just before the next reply (line noise). */
  garbageBeforeNextReply(bytes: Uint8Array): void {
    this.garbageNext = Buffer.from(bytes);
  }

  async close(): Promise<void> {
    clearTimeout(this.pendingReply);
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.pendingReply !== undefined) {
      clearTimeout(this.pendingReply);
      this.pendingReply = undefined;
      this.collisions++;
      this.framer.push(chunk); // the colliding request is lost too
      return;
    }
    for (const adu of this.framer.push(chunk).frames) {
      const decoded = decodeRequest(adu);
      if (!decoded.ok) continue; // a real server ignores what it cannot parse
      const { unitId } = decoded.value;
      if (!this.units.answers(unitId)) continue;
      if ('unsupported' in decoded.value) {
        this.log.push({ unitId, fc: decoded.value.unsupported });
        this.reply(encodeException(unitId, decoded.value.unsupported, 0x01));
        continue;
      }
      const req = decoded.value.request;
      this.log.push({ unitId, fc: req.fc });
      const answer = this.units.serve(unitId, req);
      this.reply(typeof answer === 'number' ? encodeException(unitId, req.fc, answer) : encodeResponse(unitId, answer));
    }
  };

  private reply(bytes: Buffer): void {
    const out = this.garbageNext ? Buffer.concat([this.garbageNext, bytes]) : bytes;
    this.garbageNext = undefined;
    const go = (): void => {
      if (this.transport.isUp) this.transport.write(out).catch(() => undefined);
    };
    if (this.replyDelayMs > 0) {
      this.pendingReply = setTimeout(() => {
        this.pendingReply = undefined;
        go();
      }, this.replyDelayMs);
    } else go();
  }
}

function toMap(rec: Record<number, number>): Map<number, number> {
  return new Map(Object.entries(rec).map(([k, v]) => [Number(k), Math.round(v) & 0xffff]));
}
