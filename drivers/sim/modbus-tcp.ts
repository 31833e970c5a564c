/**
 * Device-side simulator of a Modbus TCP server (MODBUS Messaging on TCP/IP
 * Implementation Guide V1.0b §4.4.2): requests framed by MbapRequestFramer,
 * answered with the transaction id, protocol id and unit id of the request
 * (§4.4.2.5) from the same unit model as the RTU simulator (ModbusUnits:
 * coils, discrete inputs, input and holding registers; exceptions 01/02/03).
 *
 * Two ways to reach it:
 * - ModbusTcpSim: one connection over a ByteTransport (the far end of an
 *   in-memory pair), for driver tests and the demo room;
 * - ModbusTcpServerSim: a real TCP server on 127.0.0.1 (port 0 = any free
 *   port) serving every connection, for tests with independent clients.
 *
 * `gateway: true` behaves like a TCP-to-RTU gateway: a request for a unit it
 * does not have, or for a silent unit, gets exception 0B (gateway target
 * device failed to respond); otherwise such requests get no reply.
 */
import net from 'node:net';
import { z } from 'zod';
import type { ByteTransport } from '../transports/types.js';
import { decodeRequestPdu, encodeExceptionPdu, encodeResponsePdu } from '../modbus/codec.js';
import { resolveRegisters } from '../modbus/poller.js';
import { encodeRaw } from '../modbus/registers.js';
import { encodeMbap, MbapRequestFramer, type MbapFrame } from '../modbus-tcp/mbap.js';
import { modbusTcpOptionsSchema } from '../modbus-tcp/driver.js';
import { ModbusUnits, type SimUnit } from './modbus-rtu.js';
import type { SimInput, Simulator } from './index.js';

export interface ModbusTcpSimOptions {
  units: Record<number, Partial<SimUnit>>;
  /** Answer for absent or silent units with exception 0B, as a gateway does. */
  gateway?: boolean;
  /** Delay before answering, ms. */
  replyDelayMs?: number;
}

/** What every connection of one simulated server shares. */
class MbapServerCore {
  readonly units: ModbusUnits;
  /** Requests seen (transaction id, unit id, function code), for assertions. */
  readonly log: Array<{ transactionId: number; unitId: number; fc: number }> = [];
  /** Byte runs the framer skipped. */
  malformed = 0;
  private readonly gateway: boolean;
  private readonly replyDelayMs: number;
  private garbageNext: Buffer | undefined;
  private readonly delays: number[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(options: ModbusTcpSimOptions) {
    this.units = new ModbusUnits(options.units);
    this.gateway = options.gateway ?? false;
    this.replyDelayMs = options.replyDelayMs ?? 0;
  }

  garbageBeforeNextReply(bytes: Uint8Array): void {
    this.garbageNext = Buffer.from(bytes);
  }

  delayNextReply(ms: number): void {
    this.delays.push(ms);
  }

  /** Feed one connection's bytes through its framer; replies go to `write`. */
  feed(framer: MbapRequestFramer, chunk: Buffer, write: (b: Buffer) => void): void {
    const out = framer.push(chunk);
    this.malformed += out.errors.length;
    for (const frame of out.frames) this.answer(frame, write);
  }

  stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private answer(frame: MbapFrame, write: (b: Buffer) => void): void {
    const { transactionId, unitId } = frame;
    const decoded = decodeRequestPdu(frame.pdu);
    if (!decoded.ok) return; // the framer only passes well-formed requests; ignore anything else
    const fc = 'unsupported' in decoded.value ? decoded.value.unsupported : decoded.value.request.fc;
    this.log.push({ transactionId, unitId, fc });
    let pdu: Buffer | undefined;
    if (!this.units.answers(unitId)) pdu = this.gateway ? encodeExceptionPdu(fc, 0x0b) : undefined;
    else if ('unsupported' in decoded.value) pdu = encodeExceptionPdu(fc, 0x01);
    else {
      const res = this.units.serve(unitId, decoded.value.request);
      pdu = typeof res === 'number' ? encodeExceptionPdu(fc, res) : encodeResponsePdu(res);
    }
    if (!pdu) return;
    let bytes = encodeMbap(transactionId, unitId, pdu);
    if (this.garbageNext) bytes = Buffer.concat([this.garbageNext, bytes]);
    this.garbageNext = undefined;
    const delay = this.delays.shift() ?? this.replyDelayMs;
    if (delay <= 0) return write(bytes);
    const t = setTimeout(() => {
      this.timers.delete(t);
      write(bytes);
    }, delay);
    this.timers.add(t);
  }
}

/** A Modbus TCP server over one ByteTransport connection (memory pair, demo room). */
export class ModbusTcpSim {
  private readonly core: MbapServerCore;
  private readonly framer = new MbapRequestFramer();

  constructor(
    private readonly transport: ByteTransport,
    options: ModbusTcpSimOptions,
  ) {
    this.core = new MbapServerCore(options);
    transport.on('data', this.onData);
    transport.start();
  }

  get units(): ModbusUnits {
    return this.core.units;
  }

  get log(): MbapServerCore['log'] {
    return this.core.log;
  }

  get malformed(): number {
    return this.core.malformed;
  }

  garbageBeforeNextReply(bytes: Uint8Array): void {
    this.core.garbageBeforeNextReply(bytes);
  }

  /** Answer the next request after `ms` (a slow device); calls queue up for the following requests. */
  delayNextReply(ms: number): void {
    this.core.delayNextReply(ms);
  }

  async close(): Promise<void> {
    this.core.stopTimers();
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.core.feed(this.framer, chunk, (b) => {
      if (this.transport.isUp) this.transport.write(b).catch(() => undefined);
    });
  };
}

/** A Modbus TCP server on a real socket (127.0.0.1 by default). */
export class ModbusTcpServerSim {
  private constructor(
    private readonly server: net.Server,
    private readonly core: MbapServerCore,
    private readonly sockets: Set<net.Socket>,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Listen on `host:port` (default 127.0.0.1, port 0 = any free port). */
  static async listen(options: ModbusTcpSimOptions & { host?: string; port?: number }): Promise<ModbusTcpServerSim> {
    const core = new MbapServerCore(options);
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      const framer = new MbapRequestFramer();
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => core.feed(framer, chunk, (b) => void (socket.writable && socket.write(b))));
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('Modbus TCP simulator: no TCP address');
    return new ModbusTcpServerSim(server, core, sockets, host, address.port);
  }

  get units(): ModbusUnits {
    return this.core.units;
  }

  get log(): MbapServerCore['log'] {
    return this.core.log;
  }

  get malformed(): number {
    return this.core.malformed;
  }

  /** Open client connections. */
  get connections(): number {
    return this.sockets.size;
  }

  garbageBeforeNextReply(bytes: Uint8Array): void {
    this.core.garbageBeforeNextReply(bytes);
  }

  /** Answer the next request after `ms` (a slow device); calls queue up for the following requests. */
  delayNextReply(ms: number): void {
    this.core.delayNextReply(ms);
  }

  /** Reset every open connection (a device rebooting); the server keeps listening. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.core.stopTimers();
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const valueArgs = z.object({ metric: z.string(), value: z.number().finite() });
const silentArgs = z.object({ silent: z.boolean() });
/** Plausible classroom values by metric name, for the demo. */
const DEMO_VALUES: Record<string, number> = { temperature: 23.5, humidity: 45, co2: 650, pm25: 18, illuminance: 420, noise: 48 };

/**
 * Demo-room simulator for a `modbus-tcp` device (`transport: { type: sim }`):
 * a direct Modbus TCP device holding the configured registers with plausible
 * values. Actions: `set {metric, value}`, `power-cut {silent}`.
 */
export function createModbusTcpSimulator(end: ByteTransport, input: SimInput): Simulator {
  const options = modbusTcpOptionsSchema.parse(input.options);
  const registers = resolveRegisters(options);
  const sim = new ModbusTcpSim(end, { units: { [options.unitId]: {} }, replyDelayMs: 5 });
  const set = (metric: string, value: number): void => {
    const spec = registers.find((r) => r.metric === metric);
    if (!spec) throw new Error(`no register for metric "${metric}"; metrics: ${registers.map((r) => r.metric).join(', ')}`);
    const raw = (value - spec.offset) / spec.scale;
    const words = encodeRaw(spec.type, spec.wordOrder, spec.type === 'float32' ? raw : Math.round(raw));
    words.forEach((w, i) => sim.units.setRegister(options.unitId, spec.function === 3 ? 'holding' : 'input', spec.address + i, w));
  };
  for (const r of registers) set(r.metric, DEMO_VALUES[r.metric] ?? 0);
  return {
    model: 'modbus-tcp',
    actions: {
      set: (args) => {
        const a = valueArgs.parse(args);
        set(a.metric, a.value);
      },
      'power-cut': (args) => sim.units.setSilent(options.unitId, silentArgs.parse(args).silent),
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}
