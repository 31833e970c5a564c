/**
 * What the listen-only card readers on a byte transport (em4100, uid-reader)
 * share: the transport's lifecycle and online/offline, the framer reset on an
 * outage (a frame cut by it must not join bytes after it), the debounce of a
 * card left on the antenna (CardDebouncer), malformed bytes reported with a
 * hex sample, and no commands. A subclass brings its framer and turns each
 * framer output into `report()` or `malformedBytes()`.
 */
import { DriverEmitter, type DeviceDriver, type DriverContext, type StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { CardDebouncer } from './card-debounce.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';

export interface ReaderFramer<Out> {
  push(chunk: Buffer): Out[];
  reset(): void;
}

export interface MalformedBytes {
  reason: string;
  bytes: number;
  sample: Buffer;
}

export abstract class ByteCardReader<Out> extends DriverEmitter implements DeviceDriver {
  protected readonly transport: ByteTransport;
  protected readonly device: string;
  protected readonly log: Logger;
  protected readonly clock: Clock;
  protected abstract readonly framer: ReaderFramer<Out>;
  private readonly debouncer: CardDebouncer;
  private opened = false;
  private online: boolean | null = null;

  /**
   * @param driver  the driver name, for errors and the log namespace
   * @param reader  how the reader is named to a user ("an EM4100 card reader")
   * @param unit    what the framer cuts ("frame", "line"), for the log
   */
  constructor(
    ctx: DriverContext<{ debounceMs: number }>,
    driver: string,
    private readonly reader: string,
    private readonly unit: string,
  ) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: ${driver} needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: `drv:${driver}`, device: ctx.deviceId });
    this.debouncer = new CardDebouncer(ctx.options.debounceMs);
  }

  /** One framer output: a card (call report) or bytes that are not one (call malformedBytes). */
  protected abstract handle(out: Out): void;

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    attachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    detachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
    await this.transport.stop();
    this.framer.reset();
    this.debouncer.clear();
    this.online = null;
  }

  async execute(command: string, _args: Record<string, unknown>): Promise<StatePatch> {
    throw new DeviceError('unsupported', this.device, command, `${this.reader} takes no commands`);
  }

  /** A card read: emitted as `card` unless it is the same presentation as a read within debounceMs. */
  protected report(card: { uid: string; number?: string; format: string }): void {
    if (!this.debouncer.accept(card.uid, this.clock.monotonic())) return;
    this.log.debug({ uid: card.uid }, 'card presented');
    this.emit('card', { ...card, ts: this.clock.now() });
  }

  protected malformedBytes(m: MalformedBytes): void {
    const detail = `${this.device}: ${m.reason} (${m.bytes} byte(s): ${m.sample.toString('hex')}${m.bytes > m.sample.length ? '...' : ''})`;
    this.log.warn({ reason: m.reason, bytes: m.bytes, sample: m.sample.toString('hex') }, 'malformed data from card reader');
    this.emit('malformed', detail);
  }

  private readonly onUp = (): void => {
    if (this.online === true) return;
    this.online = true;
    this.log.info({ transport: this.transport.description }, 'card reader connected');
    this.emit('online', true);
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    if (this.online === false) return;
    this.online = false;
    const reason = error ? error.message : 'transport closed';
    this.log.warn({ transport: this.transport.description, reason }, 'card reader disconnected');
    this.emit('online', false, reason);
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      for (const out of this.framer.push(chunk)) this.handle(out);
    } catch (e) {
      // The framers and codecs never throw; a listener of ours might. Never let it reach the transport.
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, `card ${this.unit} handling failed`);
    }
  };
}
