/**
 * Wiegand card reader driver (`wiegand`): W26 and W34 readers wired to two
 * GPIO inputs, D0 and D1.
 *
 * Follows SIA AC-01 (26-bit Wiegand reader interface) and the HID 26/34-bit
 * card layouts (see ./codec.ts and docs/drivers/wiegand.md). Edges come from
 * the GPIO backend with their timestamps; ./decoder.ts turns them into bits,
 * ./codec.ts checks parity and extracts facility code and card number.
 *
 * Lines: the device's GPIO transport names the chip and D0's line; the
 * options can override D0 (`d0Line`) and must name D1 (`d1Line`). Both are
 * opened as inputs watching both edges (pulse widths are checked), with
 * `invert: true` for an inverting level shifter or opto-coupler.
 *
 * Timing needs kernel edge timestamps: use the character-device backend
 * (gpiomon) or a Wiegand-to-serial converter; sysfs/onoff timestamps are
 * taken in userspace, too late for 50 us pulses (docs/gpio.md).
 *
 * Availability: the device is online once both lines are open. If opening
 * fails (chip missing, line busy, no permission) it is offline with the
 * reason, logged once, and opening is retried with backoff.
 */
import { z } from 'zod';
import { cardReader, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import { Backoff } from '../transports/backoff.js';
import type { GpioBackend, GpioInput } from '../transports/gpio.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { CardDebouncer } from '../util/card-debounce.js';
import { decodeWiegand, formatBits, WIEGAND_FORMATS } from './codec.js';
import { DEFAULT_TIMING, WiegandDecoder, type WiegandDecoderOutput, type WiegandLine } from './decoder.js';

const line = z.number().int().min(0).max(1023);

/**
 * Wall time to wait after the last edge before ending the last frame. Frames
 * are cut on the edges' kernel timestamps (25 ms of silence); this only has
 * to outlast the delivery delay of the edges. Backends with an input group
 * (chardev: one gpiomon for D0 and D1) deliver them in order; with two
 * separate watchers (onoff) the lines' streams can be skewed under load, so
 * it is generous: a card's tap reaches attendance ~150 ms later, which nobody
 * notices.
 */
const FLUSH_AFTER_MS = Math.max(DEFAULT_TIMING.gapMs + 5, 150);

export const wiegandOptionsSchema = z
  .object({
    /** D0's line on the transport's chip (default: the transport's `line`). */
    d0Line: line.optional(),
    /** D1's line on the transport's chip. */
    d1Line: line,
    /** Frame layout: `auto` takes W26 or W34 from the bit count. */
    format: z.enum(['auto', ...WIEGAND_FORMATS]).default('auto'),
    /** The same card is a new tap only after this long without frames of it. */
    debounceMs: z.number().int().min(0).max(60_000).default(1500),
    /** The lines arrive inverted (idle low): an inverting level shifter or opto-coupler. */
    invert: z.boolean().default(false),
    /** Low pulses outside these bounds are noise (the standard's pulses are 20-100 us). */
    pulseMinUs: z.number().min(0).max(1000).default(DEFAULT_TIMING.pulseMinUs),
    pulseMaxUs: z.number().min(1).max(20_000).default(DEFAULT_TIMING.pulseMaxUs),
  })
  .strict()
  .refine((o) => o.pulseMinUs < o.pulseMaxUs, { message: 'pulseMinUs must be below pulseMaxUs', path: ['pulseMinUs'] });
export type WiegandOptions = z.infer<typeof wiegandOptionsSchema>;

export function wiegandCapabilities(): Capability[] {
  return [cardReader()];
}

export class WiegandDriver extends DriverEmitter implements DeviceDriver {
  private readonly backend: GpioBackend;
  private readonly chip: string;
  private readonly lines: readonly [number, number];
  private readonly opts: WiegandOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly decoder: WiegandDecoder;
  private readonly debouncer: CardDebouncer;
  private readonly backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  private inputs: Pick<GpioInput, 'read' | 'close'>[] = [];
  private opened = false;
  private online: boolean | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** Bumped on every edge, so a flush scheduled before newer edges is skipped. */
  private edgeCount = 0;
  /** Wall time of the last edge: a card is stamped when it was read, not when its frame was flushed. */
  private lastEdgeAt = 0;

  constructor(ctx: DriverContext<WiegandOptions>) {
    super();
    if (ctx.transport.type !== 'gpio') throw new Error(`${ctx.deviceId}: wiegand needs a gpio transport (two input lines)`);
    const d0 = ctx.options.d0Line ?? ctx.transport.line;
    const d1 = ctx.options.d1Line;
    if (d0 === d1) throw new Error(`${ctx.deviceId}: wiegand D0 and D1 must be different lines (both are ${d0})`);
    this.backend = ctx.transport.backend;
    this.chip = ctx.transport.chip;
    this.lines = [d0, d1];
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:wiegand', device: ctx.deviceId });
    this.decoder = new WiegandDecoder({ pulseMinUs: ctx.options.pulseMinUs, pulseMaxUs: ctx.options.pulseMaxUs });
    this.debouncer = new CardDebouncer(ctx.options.debounceMs);
  }

  /** Opens both lines; never rejects: a failure makes the device offline and is retried. */
  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    await this.tryOpen();
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.flushTimer);
    await this.closeInputs();
    this.decoder.reset();
    this.debouncer.clear();
    this.online = null;
  }

  async execute(command: string, _args: Record<string, unknown>): Promise<StatePatch> {
    throw new DeviceError('unsupported', this.device, command, 'a Wiegand card reader takes no commands');
  }

  private describeLines(): string {
    return `${this.chip} D0=${this.lines[0]} D1=${this.lines[1]} via ${this.backend.name}`;
  }

  private async tryOpen(): Promise<void> {
    try {
      const activeLow = this.opts.invert;
      if (this.backend.openInputGroup) {
        // One watcher for both lines: edges come in the kernel's order.
        const group = await this.backend.openInputGroup(this.chip, this.lines, 'both', { activeLow });
        this.inputs.push({ read: () => group.read(this.lines[0]), close: () => group.close() }, { read: () => group.read(this.lines[1]), close: async () => {} });
        group.onEdge((e) => this.onEdge(e.line === this.lines[0] ? 0 : 1, e.value, e.tsNs));
      } else {
        for (const [i, offset] of this.lines.entries()) {
          const input = await this.backend.openInput(this.chip, offset, 'both', { activeLow });
          if (!this.opened) {
            await input.close();
            break;
          }
          this.inputs.push(input);
          const which = i as WiegandLine;
          input.onEdge((e) => this.onEdge(which, e.value, e.tsNs));
        }
      }
      if (!this.opened) return this.closeInputs();
      const levels = await Promise.all(this.inputs.map((input) => input.read()));
      levels.forEach((level, i) => {
        if (level === 0) this.log.warn({ line: this.lines[i] }, `D${i} reads low at idle: check the wiring, the reader's power and the invert option`);
      });
      this.backoff.reset();
      this.setOnline(true);
    } catch (e) {
      await this.closeInputs();
      const reason = e instanceof Error ? e.message : String(e);
      this.setOnline(false, reason);
      if (!this.opened) return;
      const delay = this.backoff.next();
      this.log.debug({ delay, reason }, 'retrying to open the Wiegand lines');
      this.retryTimer = setTimeout(() => void this.tryOpen(), delay);
      this.retryTimer.unref?.();
    }
  }

  private async closeInputs(): Promise<void> {
    const inputs = this.inputs;
    this.inputs = [];
    for (const input of inputs) {
      await input.close().catch((e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'error closing a Wiegand line'));
    }
  }

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) {
      this.log.info({ lines: this.describeLines() }, 'Wiegand reader lines open');
      this.emit('online', true);
    } else {
      this.log.warn({ lines: this.describeLines(), reason }, 'Wiegand reader lines unavailable');
      this.emit('online', false, reason);
    }
  }

  private onEdge(which: WiegandLine, value: 0 | 1, tsNs: bigint): void {
    try {
      this.edgeCount++;
      this.lastEdgeAt = this.clock.now();
      this.handle(this.decoder.push(which, value, tsNs));
      this.armFlush();
    } catch (e) {
      // The decoder never throws; a listener of ours might. Never let it reach the backend.
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'Wiegand edge handling failed');
    }
  }

  /**
   * End the frame after `gapMs` of quiet. The timer runs on wall time while
   * frames are cut on edge timestamps; the flush waits one setImmediate so
   * that edges already received (read in the poll phase, after timers) are
   * decoded first, and is skipped if any arrived since it was armed.
   */
  private armFlush(): void {
    clearTimeout(this.flushTimer);
    const armedAt = this.edgeCount;
    this.flushTimer = setTimeout(() => {
      setImmediate(() => {
        if (armedAt !== this.edgeCount || !this.opened) return;
        try {
          this.handle(this.decoder.flush());
        } catch (e) {
          this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'Wiegand frame handling failed');
        }
      });
    }, FLUSH_AFTER_MS);
    this.flushTimer.unref?.();
  }

  private handle(outputs: WiegandDecoderOutput[]): void {
    for (const out of outputs) {
      if (out.type === 'malformed') {
        this.malformed(`noise: ${out.reason} (${out.edges} edge(s))`);
        continue;
      }
      const result = decodeWiegand(out.bits, this.opts.format);
      if (!result.ok) {
        this.malformed(`${result.reason} (bits ${formatBits(out.bits)})`);
        continue;
      }
      const card = result.card;
      if (!this.debouncer.accept(card.uid, this.clock.monotonic())) continue;
      this.log.debug({ uid: card.uid, number: card.number, format: card.format }, 'card presented');
      this.emit('card', { uid: card.uid, number: card.number, format: card.format, ts: this.lastEdgeAt || this.clock.now() });
    }
  }

  private malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed Wiegand frame');
    this.emit('malformed', `${this.device}: ${detail}`);
  }
}

export const wiegandDriver: DriverDefinition<WiegandOptions> = {
  driver: 'wiegand',
  kinds: ['card-reader'],
  transports: ['gpio'],
  summary: 'Wiegand W26/W34 card readers on two GPIO lines (SIA AC-01 26-bit interface, HID 26/34-bit layouts)',
  optionsSchema: wiegandOptionsSchema,
  capabilities: () => wiegandCapabilities(),
  create: (ctx) => new WiegandDriver(ctx),
};
