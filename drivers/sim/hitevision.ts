/**
 * Device-side simulator of a Hitevision interactive flat panel (tests and the
 * demo room). Parses key frames (7F 08 99 A2 B3 C4 02 FF 01 xx CF,
 * shared/PROTOCOLS.md) and acts on them like the panel: 00 on, 01 off, 02
 * toggles mute, 06 opens the source menu, 0A/0B/0C/0D select HDMI1, HDMI2,
 * OPS, PC. In standby only power on is obeyed. Older firmware answers
 * nothing; with `returnCodes` it answers each key with 7F 09 ... key 01 CF
 * (00 for keys it does not know), like the newer firmware's serial service.
 *
 * `silent = true` simulates a panel without mains power.
 */
import type { ByteTransport } from '../transports/types.js';
import { decodeHvFrame, encodeHvReturn, HV_INPUTS, HV_KEYS, type HvInputName } from '../hitevision/codec.js';
import { HvFramer } from '../hitevision/framer.js';

export interface HvSimState {
  power: boolean;
  muted: boolean;
  input: HvInputName;
  /** Times the source menu key was pressed. */
  sourceMenu: number;
}

export interface HvSimOptions {
  initial?: Partial<HvSimState>;
  /** Answer keys with return frames (newer firmware). Default false. */
  returnCodes?: boolean;
  replyDelayMs?: number;
}

const KNOWN = new Set<number>(Object.values(HV_KEYS));

export class HitevisionSim {
  readonly state: HvSimState;
  silent = false;
  returnCodes: boolean;
  /** Keys received, in order. */
  readonly received: number[] = [];
  private readonly framer = new HvFramer();
  private readonly replyDelayMs: number;

  constructor(
    private readonly transport: ByteTransport,
    options: HvSimOptions = {},
  ) {
    this.state = { power: false, muted: false, input: 'hdmi1', sourceMenu: 0, ...options.initial };
    this.returnCodes = options.returnCodes ?? false;
    this.replyDelayMs = options.replyDelayMs ?? 0;
    transport.on('data', this.onData);
    transport.start();
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    for (const frame of this.framer.push(chunk).frames) {
      const msg = decodeHvFrame(frame);
      if (!msg.ok || msg.value.kind !== 'key') continue;
      const key = msg.value.key;
      this.received.push(key);
      if (this.silent) continue;
      if (!this.state.power && key !== HV_KEYS.powerOn) continue; // standby: only power on
      this.apply(key);
      if (this.returnCodes) this.reply(encodeHvReturn(key, KNOWN.has(key) ? 0x01 : 0x00));
    }
  };

  private apply(key: number): void {
    const s = this.state;
    if (key === HV_KEYS.powerOn) s.power = true;
    else if (key === HV_KEYS.powerOff) s.power = false;
    else if (key === HV_KEYS.muteToggle) s.muted = !s.muted;
    else if (key === HV_KEYS.sourceMenu) s.sourceMenu++;
    else {
      for (const [name, code] of Object.entries(HV_INPUTS)) if (code === key) s.input = name as HvInputName;
    }
  }

  private reply(bytes: Buffer): void {
    const go = (): void => {
      if (this.transport.isUp && !this.silent) this.transport.write(bytes).catch(() => undefined);
    };
    if (this.replyDelayMs > 0) setTimeout(go, this.replyDelayMs);
    else go();
  }
}
