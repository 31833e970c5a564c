/**
 * Device-side simulator of a Sharp PN monitor (tests and the demo room).
 * Answers like the Sharp PN-L862B operation manual p51-53 describes:
 * "POWR0001\r" -> "WAIT\r\n" then "OK\r\n" (after `warmupMs`); "INPS0010"
 * -> WAIT, OK; "VOLM0020" -> OK; "VOLM????" -> "20\r\n"; ERR for unknown
 * commands, bad values, and everything but POWR while in standby; LOCKED for
 * everything while `locked`.
 *
 * `silent = true` simulates a monitor without mains power.
 */
import type { ByteTransport } from '../transports/types.js';
import { SHARP_INPUTS } from '../sharp/codec.js';
import { SharpLineFramer } from '../sharp/framer.js';

export interface SharpSimState {
  /** 0 standby, 1 normal, 2 input signal waiting. */
  power: 0 | 1 | 2;
  input: number;
  volume: number;
  muted: boolean;
}

export interface SharpSimOptions {
  inputCodes?: readonly number[];
  initial?: Partial<SharpSimState>;
  replyDelayMs?: number;
  /** Time between WAIT and OK for POWR/INPS. */
  warmupMs?: number;
}

export class SharpSim {
  readonly state: SharpSimState;
  silent = false;
  /** RS-232C operation lock: every command gets LOCKED. */
  locked = false;
  /** Commands received (the 8-character lines). */
  readonly received: string[] = [];
  private readonly framer = new SharpLineFramer();
  private readonly inputCodes: Set<number>;
  private readonly replyDelayMs: number;
  private readonly warmupMs: number;
  private errNext = 0;

  constructor(
    private readonly transport: ByteTransport,
    options: SharpSimOptions = {},
  ) {
    this.inputCodes = new Set(options.inputCodes ?? Object.values(SHARP_INPUTS));
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.warmupMs = options.warmupMs ?? 0;
    this.state = { power: 0, input: SHARP_INPUTS.hdmi1 ?? 10, volume: 20, muted: false, ...options.initial };
    transport.on('data', this.onData);
    transport.start();
  }

  /** Answer the next `count` commands with ERR (line noise, as the manual warns). */
  errOnNext(count = 1): void {
    this.errNext = count;
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    for (const line of this.framer.push(chunk).frames) {
      this.received.push(line);
      if (this.silent) continue;
      this.handle(line);
    }
  };

  private handle(line: string): void {
    const m = /^([A-Z]{4})(.{4})$/.exec(line);
    if (this.locked) return this.send(['LOCKED']);
    if (this.errNext > 0) {
      this.errNext--;
      return this.send(['ERR']);
    }
    if (!m) return this.send(['ERR']);
    const [, cmd = '', param = ''] = m;
    const read = param === '????';
    const value = Number(param.trim());
    const valid = read || /^ *\d+ *$/.test(param);
    const s = this.state;
    if (!valid) return this.send(['ERR']);
    if (s.power === 0 && cmd !== 'POWR') return this.send(['ERR']); // not usable in standby
    switch (cmd) {
      case 'POWR':
        if (read) return this.send([String(s.power)]);
        if (value !== 0 && value !== 1) return this.send(['ERR']);
        s.power = value;
        return this.send(['WAIT'], ['OK']);
      case 'INPS':
        if (read) return this.send([String(s.input)]);
        if (!this.inputCodes.has(value)) return this.send(['ERR']);
        s.input = value;
        return this.send(['WAIT'], ['OK']);
      case 'VOLM':
        if (read) return this.send([String(s.volume)]);
        if (value > 100) return this.send(['ERR']);
        s.volume = value;
        return this.send(['OK']);
      case 'MUTE':
        if (read) return this.send([s.muted ? '1' : '0']);
        if (value !== 0 && value !== 1) return this.send(['ERR']);
        s.muted = value === 1;
        return this.send(['OK']);
      default:
        return this.send(['ERR']);
    }
  }

  /** Send the first lines now (after replyDelayMs) and the second group after warmupMs more. */
  private send(now: string[], later: string[] = []): void {
    const write = (lines: string[]): void => {
      if (this.transport.isUp && !this.silent) this.transport.write(Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1')).catch(() => undefined);
    };
    const first = (): void => {
      write(now);
      if (later.length === 0) return;
      if (this.warmupMs > 0) setTimeout(() => write(later), this.warmupMs);
      else write(later);
    };
    if (this.replyDelayMs > 0) setTimeout(first, this.replyDelayMs);
    else first();
  }
}
