/**
 * Device-side simulator of an NEC LCD monitor (tests and the demo room).
 * Speaks the packets of the NEC "External Control, NEC LCD Monitor" manual:
 * power control (C203D6) and power status read (01D6), get/set parameter for
 * input (00h/60h), volume (00h/62h) and sound mute (00h/8Dh). It answers in
 * standby (power status, power on); parameters in standby, out-of-range
 * values and unknown operations get result 01 ("unsupported ... under the
 * current condition").
 *
 * `silent = true` simulates a monitor without mains power.
 */
import type { ByteTransport } from '../transports/types.js';
import { encodeNecParameterReply, encodeNecPowerReply, monitorAddress, NEC_INPUTS, NEC_OP, NEC_POWER } from '../nec/codec.js';
import { NecFramer, type NecPacket } from '../nec/framer.js';

export interface NecSimState {
  /** 1 on, 2 stand-by, 3 suspend, 4 off. */
  power: number;
  volume: number;
  muted: boolean;
  input: number;
}

export interface NecSimOptions {
  monitorId?: number;
  inputCodes?: readonly number[];
  initial?: Partial<NecSimState>;
  replyDelayMs?: number;
}

export class NecSim {
  readonly monitorId: number;
  readonly state: NecSimState;
  silent = false;
  /** Packets addressed to this monitor. */
  readonly received: NecPacket[] = [];
  private readonly framer = new NecFramer();
  private readonly address: number;
  private readonly inputCodes: Set<number>;
  private readonly replyDelayMs: number;
  private refuseNext = false;

  constructor(
    private readonly transport: ByteTransport,
    options: NecSimOptions = {},
  ) {
    this.monitorId = options.monitorId ?? 1;
    this.address = monitorAddress(this.monitorId);
    this.inputCodes = new Set(options.inputCodes ?? Object.values(NEC_INPUTS));
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.state = { power: NEC_POWER.off, volume: 30, muted: false, input: NEC_INPUTS.hdmi1 ?? 0x11, ...options.initial };
    transport.on('data', this.onData);
    transport.start();
  }

  /** Answer the next command with result 01. */
  refuseNextCommand(): void {
    this.refuseNext = true;
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    for (const p of this.framer.push(chunk).frames) {
      if (p.destination !== this.address || p.source !== 0x30) continue;
      this.received.push(p);
      if (this.silent) continue;
      const reply = this.handle(p);
      if (reply) this.send(reply);
    }
  };

  private handle(p: NecPacket): Buffer | undefined {
    const id = this.monitorId;
    const s = this.state;
    const refuse = this.refuseNext;
    this.refuseNext = false;
    const m = p.message;
    if (p.type === 'A' && m === '01D6') return encodeNecPowerReply(id, refuse ? 1 : 0, s.power, true);
    if (p.type === 'A' && m.startsWith('C203D6') && m.length === 10) {
      const mode = Number.parseInt(m.slice(6), 16);
      if (refuse || (mode !== NEC_POWER.on && mode !== NEC_POWER.off)) return encodeNecPowerReply(id, 1, s.power, false);
      s.power = mode;
      return encodeNecPowerReply(id, 0, s.power, false);
    }
    if ((p.type === 'C' && m.length === 4) || (p.type === 'E' && m.length === 8)) {
      const set = p.type === 'E';
      const type = set ? 'F' : 'D';
      const page = Number.parseInt(m.slice(0, 2), 16);
      const code = Number.parseInt(m.slice(2, 4), 16);
      const value = set ? Number.parseInt(m.slice(4, 8), 16) : NaN;
      const op = { page, code };
      const no = (): Buffer => encodeNecParameterReply(id, type, 1, op, 0, 0);
      if (refuse || s.power !== NEC_POWER.on || Number.isNaN(page) || Number.isNaN(code)) return no();
      if (page === NEC_OP.volume.page && code === NEC_OP.volume.code) {
        if (set && !(value >= 0 && value <= 100)) return no();
        if (set) s.volume = value;
        return encodeNecParameterReply(id, type, 0, op, 100, s.volume);
      }
      if (page === NEC_OP.mute.page && code === NEC_OP.mute.code) {
        if (set && value !== 1 && value !== 2 && value !== 0) return no();
        if (set) s.muted = value === 1;
        return encodeNecParameterReply(id, type, 0, op, 2, s.muted ? 1 : 2);
      }
      if (page === NEC_OP.input.page && code === NEC_OP.input.code) {
        if (set && !this.inputCodes.has(value)) return no();
        if (set) s.input = value;
        return encodeNecParameterReply(id, type, 0, op, 0x88, s.input);
      }
      return no();
    }
    return undefined; // commands this simulator does not model are ignored
  }

  private send(bytes: Buffer): void {
    const go = (): void => {
      if (this.transport.isUp && !this.silent) this.transport.write(bytes).catch(() => undefined);
    };
    if (this.replyDelayMs > 0) setTimeout(go, this.replyDelayMs);
    else go();
  }
}
