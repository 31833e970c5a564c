/**
 * Device-side simulator of a Samsung MDC display (for tests and the demo
 * room). It sits on the device end of a byte transport, parses commands with
 * the same framer, answers like a display per the Samsung MDC protocol
 * (320TSn-3 manual p29, MD40B manual p42, vgavro/samsung-mdc commands.py):
 * a get (no data) is answered with the current value, a set changes the
 * state and is answered with the new value, STATUS (0x00) with power,
 * volume, mute, input, aspect, N_TIME_NF, F_TIME_NF; unknown commands and
 * out-of-range values get a NAK; broadcasts (id 0xFE) are applied silently.
 *
 * `silent = true` simulates a display without power (nothing answers).
 */
import type { ByteTransport } from '../transports/types.js';
import { encodeMdcAck, encodeMdcNak, MDC_BROADCAST_ID, MDC_CMD, MDC_INPUTS } from '../samsung-mdc/codec.js';
import { MdcFramer, type MdcFrame } from '../samsung-mdc/framer.js';

export interface MdcSimState {
  power: 0 | 1;
  volume: number;
  mute: 0 | 1;
  /** INPUT_SOURCE code, e.g. 0x21 HDMI1. */
  input: number;
  /** PICTURE_ASPECT code (reported in STATUS only). */
  aspect: number;
}

export interface MdcSimOptions {
  displayId?: number;
  initial?: Partial<MdcSimState>;
  /** Delay before answering, ms (a real display takes tens of ms). */
  replyDelayMs?: number;
}

/** NAK error code the simulator uses for bad values (the manuals do not list codes). */
export const SIM_NAK_BAD_VALUE = 0x01;
export const SIM_NAK_UNKNOWN_COMMAND = 0x02;

const VALID_INPUTS = new Set<number>(Object.values(MDC_INPUTS));

export class MdcSim {
  readonly displayId: number;
  readonly state: MdcSimState;
  /** When true the display does not answer (power cut, cable pulled at the display). */
  silent = false;
  /** Commands received (every frame addressed to this display or broadcast), for assertions. */
  readonly received: MdcFrame[] = [];
  private readonly framer = new MdcFramer({ role: 'display' });
  private readonly forcedNaks = new Map<number, number>();
  private readonly replyDelayMs: number;

  constructor(
    private readonly transport: ByteTransport,
    options: MdcSimOptions = {},
  ) {
    this.displayId = options.displayId ?? 1;
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.state = { power: 0, volume: 20, mute: 0, input: MDC_INPUTS.hdmi1, aspect: 0x01, ...options.initial };
    transport.on('data', this.onData);
    transport.start();
  }

  /** Answer the next request for `cmd` with a NAK carrying `errorCode`. */
  nakNext(cmd: number, errorCode: number): void {
    this.forcedNaks.set(cmd, errorCode);
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    const { frames } = this.framer.push(chunk);
    for (const frame of frames) {
      const broadcast = frame.id === MDC_BROADCAST_ID;
      if (frame.id !== this.displayId && !broadcast) continue;
      this.received.push(frame);
      if (this.silent) continue;
      const reply = this.handle(frame);
      if (reply && !broadcast) this.send(reply);
    }
  };

  private send(bytes: Buffer): void {
    const go = (): void => {
      if (this.transport.isUp) this.transport.write(bytes).catch(() => undefined);
    };
    if (this.replyDelayMs > 0) setTimeout(go, this.replyDelayMs);
    else go();
  }

  private handle(frame: MdcFrame): Buffer | undefined {
    const id = this.displayId;
    const forced = this.forcedNaks.get(frame.cmd);
    if (forced !== undefined) {
      this.forcedNaks.delete(frame.cmd);
      return encodeMdcNak(id, frame.cmd, forced);
    }
    const value = frame.data[0];
    const isSet = frame.data.length > 0;
    const s = this.state;
    switch (frame.cmd) {
      case MDC_CMD.status:
        return encodeMdcAck(id, frame.cmd, [s.power, s.volume, s.mute, s.input, s.aspect, 0, 0]);
      case MDC_CMD.power:
        if (isSet) {
          if (value !== 0 && value !== 1) return encodeMdcNak(id, frame.cmd, SIM_NAK_BAD_VALUE);
          s.power = value;
        }
        return encodeMdcAck(id, frame.cmd, [s.power]);
      case MDC_CMD.volume:
        if (isSet) {
          if (value === undefined || value > 100) return encodeMdcNak(id, frame.cmd, SIM_NAK_BAD_VALUE);
          s.volume = value;
        }
        return encodeMdcAck(id, frame.cmd, [s.volume]);
      case MDC_CMD.mute:
        if (isSet) {
          if (value !== 0 && value !== 1) return encodeMdcNak(id, frame.cmd, SIM_NAK_BAD_VALUE);
          s.mute = value;
        }
        return encodeMdcAck(id, frame.cmd, [s.mute]);
      case MDC_CMD.input:
        if (isSet) {
          if (value === undefined || !VALID_INPUTS.has(value)) return encodeMdcNak(id, frame.cmd, SIM_NAK_BAD_VALUE);
          s.input = value;
        }
        return encodeMdcAck(id, frame.cmd, [s.input]);
      default:
        return encodeMdcNak(id, frame.cmd, SIM_NAK_UNKNOWN_COMMAND);
    }
  }
}
