/**
 * A coil relay board for tests and the demo room: the Modbus RTU simulator
 * (./modbus-rtu.ts) with one unit whose coils are the relays (FC01 read,
 * FC05/FC0F write, exception 02 for a coil the board lacks). Also a few
 * things a real board does that a test wants to cause: lose power, have a
 * relay switched by its on-board button, remember when each relay switched
 * (for pulse timing).
 */
import { z } from 'zod';
import type { ByteTransport } from '../transports/types.js';
import { channelList, type Channel } from '../modbus-relay/channels.js';
import { modbusRelayOptionsSchema } from '../modbus-relay/driver.js';
import { ModbusRtuSim } from './modbus-rtu.js';
import { ModbusTcpSim } from './modbus-tcp.js';
import type { ModbusUnits } from './modbus-rtu.js';
import type { SimInput, Simulator } from './index.js';

export interface RelayBoardSimOptions {
  unitId: number;
  /** Same shape as the driver's option: `{ name: coil }` or a count. */
  channels: Record<string, number> | number;
  /** Speak Modbus TCP (MBAP) instead of RTU. */
  framing?: 'rtu' | 'tcp';
  replyDelayMs?: number;
}

export interface RelaySwitch {
  on: boolean;
  /** Date.now() of the write. */
  at: number;
}

export class RelayBoardSim {
  readonly channels: Channel[];
  private readonly unitId: number;
  private readonly rtu: ModbusRtuSim | undefined;
  private readonly tcp: ModbusTcpSim | undefined;
  private readonly units: ModbusUnits;

  constructor(transport: ByteTransport, options: RelayBoardSimOptions) {
    this.unitId = options.unitId;
    this.channels = channelList(options.channels);
    const coils = Object.fromEntries(this.channels.map((c) => [c.coil, false]));
    const units = { [options.unitId]: { coils } };
    const replyDelayMs = options.replyDelayMs ?? 0;
    if (options.framing === 'tcp') {
      this.tcp = new ModbusTcpSim(transport, { units, replyDelayMs });
      this.units = this.tcp.units;
    } else {
      this.rtu = new ModbusRtuSim(transport, { units, replyDelayMs });
      this.units = this.rtu.units;
    }
  }

  /** Is the relay of `channel` closed? */
  isOn(channel: string): boolean {
    return this.units.getBit(this.unitId, 'coils', this.channel(channel).coil) === true;
  }

  /** Every Modbus write to the relay of `channel`, oldest first. */
  history(channel: string): RelaySwitch[] {
    const coil = this.channel(channel).coil;
    return this.units.coilWrites.filter((w) => w.unitId === this.unitId && w.address === coil).map((w) => ({ on: w.value, at: w.at }));
  }

  /** Someone pressed the relay's on-board button: the state changes without a Modbus write. */
  switchByHand(channel: string, on: boolean): void {
    this.units.setBit(this.unitId, 'coils', this.channel(channel).coil, on);
  }

  /** The board loses power (no replies) or gets it back. */
  setSilent(silent: boolean): void {
    this.units.setSilent(this.unitId, silent);
  }

  /** Requests the board saw (RTU: unit id + function code). */
  get requests(): Array<{ unitId: number; fc: number }> {
    return this.rtu?.log ?? this.tcp?.log ?? [];
  }

  async close(): Promise<void> {
    await (this.rtu ?? this.tcp)?.close();
  }

  private channel(name: string): Channel {
    const ch = this.channels.find((c) => c.name === name);
    if (!ch) throw new Error(`relay board has no channel "${name}" (channels: ${this.channels.map((c) => c.name).join(', ')})`);
    return ch;
  }
}

const handArgs = z.object({ channel: z.string(), on: z.boolean() });
const silentArgs = z.object({ silent: z.boolean() });

/**
 * Demo-room simulator for a `modbus-relay` device (`transport: { type: sim }`).
 * Actions: `switch-by-hand {channel, on}`, `power-cut {silent}`.
 */
export function createModbusRelaySimulator(end: ByteTransport, input: SimInput): Simulator {
  const options = modbusRelayOptionsSchema.parse(input.options);
  const board = new RelayBoardSim(end, { unitId: options.unitId, channels: options.channels, framing: options.framing, replyDelayMs: 5 });
  return {
    model: 'modbus-relay',
    actions: {
      'switch-by-hand': (args) => {
        const a = handArgs.parse(args);
        board.switchByHand(a.channel, a.on);
      },
      'power-cut': (args) => board.setSilent(silentArgs.parse(args).silent),
    },
    start: () => undefined,
    stop: () => board.close(),
  };
}
