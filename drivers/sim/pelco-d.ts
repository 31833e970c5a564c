/**
 * Device-side simulator of a Pelco-D PTZ receiver (tests and the demo room),
 * after the Pelco "D" Protocol Manual (TF-0002 v2 r1). It parses messages with
 * the same framer, keeps the state they command (camera on/off, zoom motion
 * and speed, stored presets, the preset last gone to) and, like a real
 * receiver, never answers. Messages for other addresses are ignored (several
 * receivers share an RS-485 bus). `received` records every message for this
 * address with its arrival time, so tests can check spacing.
 */
import type { ByteTransport } from '../transports/types.js';
import { decodePelcoRequest, type PelcoDecoded } from '../pelco-d/codec.js';
import { PelcoDFramer, type PelcoFrame } from '../pelco-d/framer.js';

export interface PelcoDSimState {
  power: 'on' | 'off';
  zoom: 'in' | 'out' | 'stop';
  /** "Set zoom speed" 0..3. */
  zoomSpeed: number;
  presets: Set<number>;
  /** Preset last gone to (or stored), null after other motion. */
  preset: number | null;
}

export interface PelcoDSimOptions {
  address?: number;
  initial?: Partial<Omit<PelcoDSimState, 'presets'>>;
}

export interface PelcoDReceived {
  frame: PelcoFrame;
  decoded: PelcoDecoded;
  /** performance.now() at arrival. */
  at: number;
}

export class PelcoDSim {
  readonly address: number;
  readonly state: PelcoDSimState;
  readonly received: PelcoDReceived[] = [];
  /** Framer rejections (garbage, bad checksums), for assertions. */
  readonly rejected: string[] = [];
  private readonly framer = new PelcoDFramer();

  constructor(
    private readonly transport: ByteTransport,
    options: PelcoDSimOptions = {},
  ) {
    this.address = options.address ?? 1;
    this.state = { power: 'on', zoom: 'stop', zoomSpeed: 0, preset: null, ...options.initial, presets: new Set() };
    transport.on('data', this.onData);
    transport.start();
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    const out = this.framer.push(chunk);
    this.rejected.push(...out.errors);
    for (const frame of out.frames) {
      if (frame.address !== this.address) continue;
      const decoded = decodePelcoRequest(frame);
      this.received.push({ frame, decoded, at: performance.now() });
      this.apply(decoded);
    }
  };

  private apply(d: PelcoDecoded): void {
    const s = this.state;
    switch (d.kind) {
      case 'power':
        s.power = d.on ? 'on' : 'off';
        return;
      case 'stop':
        s.zoom = 'stop';
        return;
      case 'zoom':
        s.zoom = d.direction;
        s.preset = null;
        return;
      case 'zoom-speed':
        s.zoomSpeed = d.speed;
        return;
      case 'preset':
        if (d.action === 'set') {
          s.presets.add(d.preset);
          s.preset = d.preset;
        } else if (d.action === 'clear') s.presets.delete(d.preset);
        else {
          s.preset = d.preset;
          s.zoom = 'stop';
        }
        return;
      case 'other':
        return;
    }
  }
}
