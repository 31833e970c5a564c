/**
 * Device-side simulator of Modbus RTU servers (units) sharing one line, for
 * tests and the demo room. Per the MODBUS Application Protocol V1.1b3 it
 * serves FC03 (holding registers), FC04 (input registers), FC06 and FC10
 * (writes to holding registers); a read or write touching an address the unit
 * does not have gets exception 02, a bad quantity exception 03, any other
 * function exception 01 (§7). Requests for unknown unit ids and broadcasts
 * (unit 0) get no reply, as on a real bus.
 */
import type { ByteTransport } from '../transports/types.js';
import { decodeRequest, encodeException, encodeResponse, LIMITS, type ModbusRequest, type ModbusResponse } from '../modbus/codec.js';
import { RtuRequestFramer } from '../modbus/framer.js';
import { encodeRaw, type RegisterType, type WordOrder } from '../modbus/registers.js';

export type RegisterTable = 'input' | 'holding';

export interface SimUnit {
  input: Record<number, number>;
  holding: Record<number, number>;
}

export interface ModbusRtuSimOptions {
  units: Record<number, Partial<SimUnit>>;
  /** Delay before answering, ms. */
  replyDelayMs?: number;
}

interface UnitState {
  input: Map<number, number>;
  holding: Map<number, number>;
  silent: boolean;
}

export class ModbusRtuSim {
  private readonly units = new Map<number, UnitState>();
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
    for (const [id, u] of Object.entries(options.units)) {
      this.units.set(Number(id), {
        input: toMap(u.input ?? {}),
        holding: toMap(u.holding ?? {}),
        silent: false,
      });
    }
    transport.on('data', this.onData);
    transport.start();
  }

  /** Set one register (0..65535; negative values are stored as two's complement). */
  setRegister(unitId: number, table: RegisterTable, address: number, value: number): void {
    this.unit(unitId)[table].set(address, Math.round(value) & 0xffff);
  }

  /** Store a typed value over one or two registers, as a device with that register map would. */
  setValue(unitId: number, table: RegisterTable, address: number, type: RegisterType, raw: number, wordOrder: WordOrder = 'big'): void {
    encodeRaw(type, wordOrder, raw).forEach((w, i) => this.setRegister(unitId, table, address + i, w));
  }

  getRegister(unitId: number, table: RegisterTable, address: number): number | undefined {
    return this.unit(unitId)[table].get(address);
  }

  /** A silent unit does not answer (power loss, broken wire to that unit). */
  setSilent(unitId: number, silent: boolean): void {
    this.unit(unitId).silent = silent;
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

  private unit(unitId: number): UnitState {
    const u = this.units.get(unitId);
    if (!u) throw new Error(`simulated Modbus unit ${unitId} does not exist`);
    return u;
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
      const unit = this.units.get(unitId);
      if (!unit || unit.silent) continue;
      if ('unsupported' in decoded.value) {
        this.log.push({ unitId, fc: decoded.value.unsupported });
        this.reply(encodeException(unitId, decoded.value.unsupported, 0x01));
        continue;
      }
      const req = decoded.value.request;
      this.log.push({ unitId, fc: req.fc });
      const answer = this.serve(unit, req);
      this.reply(typeof answer === 'number' ? encodeException(unitId, req.fc, answer) : encodeResponse(unitId, answer));
    }
  };

  /** A response, or an exception code. */
  private serve(unit: UnitState, req: ModbusRequest): ModbusResponse | number {
    switch (req.fc) {
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
      case 6:
        if (!unit.holding.has(req.address)) return 0x02;
        unit.holding.set(req.address, req.value);
        return { fc: 6, address: req.address, value: req.value };
      case 16: {
        if (req.values.length < 1 || req.values.length > LIMITS.writeRegisters) return 0x03;
        if (!req.values.every((_, i) => unit.holding.has(req.address + i))) return 0x02;
        req.values.forEach((v, i) => unit.holding.set(req.address + i, v));
        return { fc: 16, address: req.address, quantity: req.values.length };
      }
      default:
        return 0x01; // coils are not simulated
    }
  }

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

