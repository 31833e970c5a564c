/**
 * Device-side simulator of a Sony VISCA PTZ camera (tests and the demo room),
 * after the Sony SRG-300H / SRG-120DH technical manual, "VISCA command list"
 * pp.28-31.
 *
 * `ViscaCameraModel` is the camera: two command sockets, ACK `z0 4y FF` then
 * completion `z0 5y FF` when the action ends (power on after `powerOnMs`, a
 * preset move or direct zoom after `moveMs`, zoom start/stop and power off at
 * once), "command buffer full" `z0 60 03 FF` when both sockets are busy,
 * "syntax error" `z0 60 02 FF` for what it does not know, "command not
 * executable" `z0 6y 41 FF` for moves while in standby (no ACK), CAM_PowerInq
 * answered `z0 50 02/03 FF` without ACK, IF_Clear and Cancel. It only knows
 * packets and a reply callback, so it serves serial lines, raw VISCA over
 * UDP/TCP (`ViscaSim`, here) and VISCA over IP (./visca-ip.ts) alike.
 *
 * Knobs for tests: `silent` (no power: nothing answers), `failNext(code)`
 * (the next command gets that error instead of an ACK), `received` (packets
 * addressed to this camera).
 */
import type { ByteTransport } from '../transports/types.js';
import {
  decodeViscaCommand,
  encodeViscaAck,
  encodeViscaCompletion,
  encodeViscaError,
  ZOOM_MAX,
  type ViscaRequest,
  type ZoomDirection,
} from '../visca/codec.js';
import { ViscaFramer } from '../visca/framer.js';

export interface ViscaCameraState {
  power: 'on' | 'off';
  /** Lens position 0 (wide) .. 0x4000 (tele). */
  zoomPosition: number;
  zoomMotion: ZoomDirection;
  /** Stored presets: number -> zoom position. */
  presets: Map<number, number>;
  /** Last preset recalled or stored, null when moved since. */
  preset: number | null;
}

export interface ViscaCameraOptions {
  /** VISCA address 1..7 (VISCA over IP: 1). */
  address?: number;
  initial?: Partial<Omit<ViscaCameraState, 'presets'>>;
  /** Delay before any reply, ms. */
  replyDelayMs?: number;
  /** Time from ACK to completion of a preset move or direct zoom, ms. */
  moveMs?: number;
  /** Time from ACK to completion of power on, ms. */
  powerOnMs?: number;
}

type Reply = (bytes: Buffer) => void;

export class ViscaCameraModel {
  readonly address: number;
  readonly state: ViscaCameraState;
  /** When true nothing answers (power cut, cable pulled at the camera). */
  silent = false;
  /** Packets addressed to this camera (or broadcast), in arrival order. */
  readonly received: Buffer[] = [];
  private readonly sockets = new Map<number, { timer?: NodeJS.Timeout; reply: Reply }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private forced: number | undefined;

  constructor(private readonly options: ViscaCameraOptions = {}) {
    this.address = options.address ?? 1;
    this.state = {
      power: 'on',
      zoomPosition: 0,
      zoomMotion: 'stop',
      preset: null,
      ...options.initial,
      presets: new Map(),
    };
  }

  /** Sockets holding a command that has not completed. */
  get busySockets(): number[] {
    return [...this.sockets.keys()].sort();
  }

  /** The next command is answered with this VISCA error code (e.g. 0x41) instead of an ACK. */
  failNext(code: number): void {
    this.forced = code;
  }

  /** Stop every pending completion. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.sockets.clear();
  }

  /** Handle one packet from the controller; `reply` sends one packet back. */
  handle(packet: Buffer, reply: Reply): void {
    const decoded = decodeViscaCommand(packet);
    if (!decoded.ok) return; // not a command header: a camera ignores it
    const d = decoded.value;
    if (d.address !== this.address && d.address !== 8) return;
    this.received.push(Buffer.from(packet));
    if (this.silent || d.address === 8) return;
    const a = this.address;
    if (d.kind === 'unknown') return this.send(reply, encodeViscaError(a, 0, 0x02));
    const req = d.request;
    switch (req.kind) {
      case 'power-inquiry':
        return this.send(reply, encodeViscaCompletion(a, 0, [this.state.power === 'on' ? 0x02 : 0x03]));
      case 'if-clear':
        this.close();
        return this.send(reply, encodeViscaCompletion(a, 0));
      case 'cancel': {
        const s = this.sockets.get(req.socket);
        if (!s) return this.send(reply, encodeViscaError(a, req.socket, 0x05));
        if (s.timer) clearTimeout(s.timer);
        this.sockets.delete(req.socket);
        return this.send(s.reply, encodeViscaError(a, req.socket, 0x04));
      }
      default:
        return this.command(req, reply);
    }
  }

  private command(req: Exclude<ViscaRequest, { kind: 'power-inquiry' | 'if-clear' | 'cancel' }>, reply: Reply): void {
    const a = this.address;
    if (this.forced !== undefined) {
      const code = this.forced;
      this.forced = undefined;
      return this.send(reply, encodeViscaError(a, code === 0x02 || code === 0x03 ? 0 : this.freeSocket() ?? 1, code));
    }
    const socket = this.freeSocket();
    if (socket === undefined) return this.send(reply, encodeViscaError(a, 0, 0x03));
    if (this.state.power === 'off' && req.kind !== 'power') return this.send(reply, encodeViscaError(a, socket, 0x41));
    const entry: { timer?: NodeJS.Timeout; reply: Reply } = { reply };
    this.sockets.set(socket, entry);
    this.send(reply, encodeViscaAck(a, socket));
    const complete = (apply: () => void, afterMs: number): void => {
      const done = (): void => {
        if (this.sockets.get(socket) !== entry) return; // cancelled or cleared
        this.sockets.delete(socket);
        apply();
        this.send(reply, encodeViscaCompletion(a, socket));
      };
      // Completion always after the ACK (reply delay included), even for instant actions.
      const t = setTimeout(() => {
        this.timers.delete(t);
        done();
      }, afterMs + (this.options.replyDelayMs ?? 0));
      entry.timer = t;
      this.timers.add(t);
    };
    const s = this.state;
    switch (req.kind) {
      case 'power':
        if (req.on) return complete(() => (s.power = 'on'), s.power === 'on' ? 0 : this.options.powerOnMs ?? 0);
        return complete(() => {
          s.power = 'off';
          s.zoomMotion = 'stop';
        }, 0);
      case 'zoom':
        return complete(() => {
          s.zoomMotion = req.direction;
          s.preset = null;
          if (req.direction !== 'stop') s.zoomPosition = req.direction === 'in' ? ZOOM_MAX : 0; // the lens runs to its end
        }, 0);
      case 'zoom-direct':
        return complete(() => {
          s.zoomPosition = Math.min(req.position, ZOOM_MAX);
          s.zoomMotion = 'stop';
          s.preset = null;
        }, this.options.moveMs ?? 0);
      case 'preset':
        if (req.action === 'set') {
          return complete(() => {
            s.presets.set(req.preset, s.zoomPosition);
            s.preset = req.preset;
          }, 0);
        }
        if (req.action === 'reset') return complete(() => s.presets.delete(req.preset), 0);
        return complete(() => {
          s.zoomPosition = s.presets.get(req.preset) ?? 0; // never stored: the home position
          s.zoomMotion = 'stop';
          s.preset = req.preset;
        }, this.options.moveMs ?? 0);
    }
  }

  private freeSocket(): number | undefined {
    if (!this.sockets.has(1)) return 1;
    if (!this.sockets.has(2)) return 2;
    return undefined;
  }

  private send(reply: Reply, bytes: Buffer): void {
    const delay = this.options.replyDelayMs ?? 0;
    if (delay <= 0) {
      if (!this.silent) reply(bytes);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.silent) reply(bytes);
    }, delay);
    this.timers.add(t);
  }
}

/**
 * A VISCA camera on a byte stream (serial line, raw VISCA over UDP/TCP, a
 * memory pair): frames with the VISCA framer, answers through the model.
 */
export class ViscaSim {
  readonly camera: ViscaCameraModel;
  private readonly framer = new ViscaFramer({ role: 'device' });

  constructor(
    private readonly transport: ByteTransport,
    options: ViscaCameraOptions = {},
  ) {
    this.camera = new ViscaCameraModel(options);
    transport.on('data', this.onData);
    transport.start();
  }

  get state(): ViscaCameraState {
    return this.camera.state;
  }

  get received(): Buffer[] {
    return this.camera.received;
  }

  set silent(silent: boolean) {
    this.camera.silent = silent;
  }

  get silent(): boolean {
    return this.camera.silent;
  }

  async close(): Promise<void> {
    this.camera.close();
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private readonly onData = (chunk: Buffer): void => {
    for (const packet of this.framer.push(chunk).frames) {
      this.camera.handle(packet, (bytes) => {
        if (this.transport.isUp) this.transport.write(bytes).catch(() => undefined);
      });
    }
  };
}
