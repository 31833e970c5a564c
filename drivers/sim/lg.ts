/**
 * Device-side simulator of an LG set on RS-232C (tests and the demo room).
 *
 * Answers like the LG 55LV5400 owner's manual p135 describes: "ka 01 01\r"
 * -> "a 01 OK01x"; 'ff' reads the current value; a set echoes the value set;
 * unknown commands and bad values get "NG01x" (illegal code); set id 0
 * addresses every set, which still answers with its own id. In standby the
 * set "will not send the status": with `standbySilent` (default) it ignores
 * everything but power on, which it acknowledges after `warmupMs`.
 *
 * `silent = true` simulates a set without mains power or a pulled cable.
 */
import type { ByteTransport } from '../transports/types.js';
import { defaultInputs, type LgInputCommand } from '../lg/codec.js';
import { encodeLgReply, hex2, LgCommandFramer, type LgCommand } from '../lg/framer.js';

export interface LgSimState {
  power: 0 | 1;
  volume: number;
  muted: boolean;
  /** Input data code, e.g. 0x90 HDMI1. */
  input: number;
}

export interface LgSimOptions {
  setId?: number;
  inputCommand?: LgInputCommand;
  /** Input codes the set accepts (default: the table of `inputCommand`). */
  inputCodes?: readonly number[];
  initial?: Partial<LgSimState>;
  /** Delay before any answer, ms. */
  replyDelayMs?: number;
  /** Extra delay before acknowledging power on, ms (the set answers once powered up). */
  warmupMs?: number;
  /** In standby, answer nothing but power on (LV5400 behaviour). Default true. */
  standbySilent?: boolean;
}

/** NG data codes from the manual p135. */
export const LG_NG_ILLEGAL = '01';
export const LG_NG_UNSUPPORTED = '02';

export class LgSim {
  readonly setId: number;
  readonly state: LgSimState;
  /** When true the set answers nothing. */
  silent = false;
  /** Commands addressed to this set (or to all), for assertions. */
  readonly received: LgCommand[] = [];
  private readonly framer = new LgCommandFramer();
  private readonly forcedNg = new Map<string, string>();
  private readonly inputCommand: LgInputCommand;
  private readonly inputCodes: Set<number>;
  private readonly replyDelayMs: number;
  private readonly warmupMs: number;
  private readonly standbySilent: boolean;

  constructor(
    private readonly transport: ByteTransport,
    options: LgSimOptions = {},
  ) {
    this.setId = options.setId ?? 1;
    this.inputCommand = options.inputCommand ?? 'xb';
    this.inputCodes = new Set(options.inputCodes ?? Object.values(defaultInputs(this.inputCommand)));
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.warmupMs = options.warmupMs ?? 0;
    this.standbySilent = options.standbySilent ?? true;
    const firstInput = [...this.inputCodes][0] ?? 0x90;
    this.state = { power: 0, volume: 20, muted: false, input: firstInput, ...options.initial };
    transport.on('data', this.onData);
    transport.start();
  }

  /** Answer the next command `cmd` (e.g. 'kf') with NG and this data. */
  ngNext(cmd: string, data: string): void {
    this.forcedNg.set(cmd, data);
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    const { frames } = this.framer.push(chunk);
    for (const cmd of frames) {
      if (cmd.setId !== this.setId && cmd.setId !== 0) continue;
      this.received.push(cmd);
      if (this.silent) continue;
      if (this.state.power === 0 && this.standbySilent && !(cmd.cmd === 'ka' && cmd.data[0] === '01')) continue;
      const wasOff = this.state.power === 0;
      const reply = this.handle(cmd);
      const delay = this.replyDelayMs + (cmd.cmd === 'ka' && wasOff && this.state.power === 1 ? this.warmupMs : 0);
      this.send(reply, delay);
    }
  };

  private send(bytes: Buffer, delayMs: number): void {
    const go = (): void => {
      if (this.transport.isUp && !this.silent) this.transport.write(bytes).catch(() => undefined);
    };
    if (delayMs > 0) setTimeout(go, delayMs);
    else go();
  }

  private handle(cmd: LgCommand): Buffer {
    const letter = cmd.cmd.charAt(1);
    const ok = (value: number): Buffer => encodeLgReply(letter, this.setId, true, hex2(value));
    const ng = (code: string): Buffer => encodeLgReply(letter, this.setId, false, code);
    const forced = this.forcedNg.get(cmd.cmd);
    if (forced !== undefined) {
      this.forcedNg.delete(cmd.cmd);
      return ng(forced);
    }
    const raw = cmd.data[0] ?? '';
    const read = raw === 'ff';
    const v = Number.parseInt(raw, 16);
    if (cmd.data.length !== 1 || Number.isNaN(v)) return ng(LG_NG_ILLEGAL);
    const s = this.state;
    switch (cmd.cmd) {
      case 'ka':
        if (!read) {
          if (v !== 0 && v !== 1) return ng(LG_NG_ILLEGAL);
          s.power = v;
        }
        return ok(s.power);
      case 'ke':
        if (!read) {
          if (v !== 0 && v !== 1) return ng(LG_NG_ILLEGAL);
          s.muted = v === 0; // 00 = mute on (volume off)
        }
        return ok(s.muted ? 0 : 1);
      case 'kf':
        if (!read) {
          if (v > 0x64) return ng(LG_NG_ILLEGAL);
          s.volume = v;
        }
        return ok(s.volume);
      case this.inputCommand:
        if (!read) {
          if (!this.inputCodes.has(v)) return ng(LG_NG_ILLEGAL);
          s.input = v;
        }
        return ok(s.input);
      default:
        return ng(LG_NG_UNSUPPORTED);
    }
  }
}
