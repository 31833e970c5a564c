/**
 * Sony VISCA over IP camera driver (`visca-ip`, UDP port 52381).
 *
 * Follows the Sony SRG-300H / SRG-120DH technical manual: the "VISCA over IP"
 * section (message header, payload types, control commands RESET/ERROR,
 * delivery confirmation by retransmission with the same sequence number) and
 * the "VISCA command list" pp.28-31 for the VISCA packets inside, shared with
 * the serial driver (./driver.ts, ./codec.ts). Header encoding in ./ip.ts.
 *
 * Over IP the camera address is always 1 (header 0x81, replies 0x90). Every
 * message carries a sequence number; the camera copies it into its ACK,
 * completion, error and inquiry answer, so replies are matched by number.
 * UDP may lose datagrams: a command or inquiry unanswered after
 * `retransmitMs` is sent again with the same number, at most `retransmits`
 * times within `timeoutMs`. If the ACK was what got lost, the camera answers
 * the repeat with ERROR "abnormality in the sequence number" (control
 * payload 0F 01): the command was executed, so the driver goes on waiting
 * for its completion (for an inquiry, whose answer was lost, it asks again
 * with a new number). The sequence is reset (control RESET, seq 0) before the
 * first request after the socket comes up and after the camera was offline;
 * requests then count from 1.
 */
import { z } from 'zod';
import type { DriverContext, DriverDefinition } from '../contract.js';
import { DeviceTimeoutError } from '../errors.js';
import { decodeViscaReply } from './codec.js';
import { viscaBaseOptions, viscaCapabilities, ViscaDriver, type ViscaIncoming } from './driver.js';
import { decodeVip, encodeVip, nextSeq, VIP_ERROR, VIP_ERROR_MESSAGE, VIP_ERROR_SEQUENCE, VIP_RESET, VIP_RESET_ACK } from './ip.js';

export const viscaIpOptionsSchema = z
  .object({
    ...viscaBaseOptions,
    /** Resend an unanswered message (same sequence number) after this long. */
    retransmitMs: z.number().int().min(20).max(5000).default(150),
    /** At most this many resends per message. */
    retransmits: z.number().int().min(0).max(10).default(3),
  })
  .strict();
export type ViscaIpOptions = z.infer<typeof viscaIpOptionsSchema>;

const noop = (): void => undefined;

export class ViscaIpDriver extends ViscaDriver {
  private readonly retransmitMs: number;
  private readonly retransmits: number;
  private readonly resetTimeoutMs: number;
  /** Sequence number of the last message sent. */
  private seq = 0;
  private needReset = true;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(ctx: DriverContext<ViscaIpOptions>) {
    super({ ...ctx, options: { ...ctx.options, address: 1, retries: 0 } }, {}, 'drv:visca-ip');
    this.retransmitMs = ctx.options.retransmitMs;
    this.retransmits = ctx.options.retransmits;
    this.resetTimeoutMs = ctx.options.timeoutMs;
  }

  /** The sequence number of the last message sent (for tests and logs). */
  get lastSeq(): number {
    return this.seq;
  }

  override async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await super.close();
  }

  protected override frame(packet: Buffer, kind: 'command' | 'inquiry'): { bytes: Buffer; seq: number } {
    this.seq = nextSeq(this.seq);
    return { bytes: encodeVip(kind, this.seq, packet), seq: this.seq };
  }

  protected override async transmit(command: string, bytes: Buffer): Promise<() => void> {
    await this.write(command, bytes);
    let left = this.retransmits;
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      left = 0;
      if (timer) {
        clearTimeout(timer);
        this.timers.delete(timer);
      }
    };
    const again = (): void => {
      if (left <= 0) return;
      timer = setTimeout(() => {
        if (timer) this.timers.delete(timer);
        if (left <= 0 || !this.transport.isUp) return;
        left--;
        this.log.debug({ command, seq: bytes.readUInt32BE(4) }, 'no reply yet, retransmitting');
        this.transport.write(bytes).then(again, noop);
      }, this.retransmitMs);
      this.timers.add(timer);
    };
    again();
    return stop;
  }

  /** Reset the camera's sequence number before the first message (holding the line). */
  protected override async prepare(command: string): Promise<void> {
    if (!this.needReset) return;
    const wait = this.waitress.waitFor((m) => m.type === 'control' && m.control === 'reset-ack', {
      command: `${command} (sequence reset)`,
      timeoutMs: this.resetTimeoutMs,
    });
    wait.promise.catch(noop);
    let stop = noop;
    try {
      stop = await this.transmit(command, encodeVip('control', 0, Uint8Array.of(VIP_RESET)));
      await wait.promise;
    } catch (e) {
      wait.cancel();
      if (e instanceof DeviceTimeoutError) this.noteFailure(`${command}: no answer to the sequence reset within ${this.resetTimeoutMs} ms`);
      throw e;
    } finally {
      stop();
    }
    this.seq = 0;
    this.needReset = false;
    this.log.debug('sequence number reset');
  }

  protected override receive(datagram: Buffer): void {
    const msg = decodeVip(datagram);
    if (!msg.ok) {
      this.malformed(msg.error);
      return;
    }
    const { type, seq, payload } = msg.value;
    if (type === 'reply') {
      const reply = decodeViscaReply(payload);
      if (!reply.ok) this.malformed(reply.error);
      else this.dispatch({ type: 'visca', seq, reply: reply.value });
      return;
    }
    const control = this.controlMessage(type, payload);
    if (control) this.dispatch({ type: 'control', seq, control });
    else this.malformed(`unexpected VISCA over IP message ${type} ${payload.toString('hex')}`);
  }

  private controlMessage(type: string, payload: Buffer): (ViscaIncoming & { type: 'control' })['control'] | undefined {
    if (type === 'controlReply' && payload.length === 1 && payload[0] === VIP_RESET_ACK) return 'reset-ack';
    // The manual lists ERROR among the control command payloads; accept it in either control type.
    if ((type === 'control' || type === 'controlReply') && payload.length === 2 && payload[0] === VIP_ERROR) {
      if (payload[1] === VIP_ERROR_SEQUENCE) return 'sequence-error';
      if (payload[1] === VIP_ERROR_MESSAGE) return 'message-error';
    }
    return undefined;
  }

  protected override setOnline(online: boolean, reason?: string): void {
    if (!online) this.needReset = true;
    super.setOnline(online, reason);
  }
}

export const viscaIpDriver: DriverDefinition<ViscaIpOptions> = {
  driver: 'visca-ip',
  kinds: ['camera'],
  transports: ['udp', 'sim'],
  summary: 'Sony VISCA over IP, UDP 52381 (Sony SRG-300H manual, VISCA over IP and VISCA command list pp.28-31)',
  optionsSchema: viscaIpOptionsSchema,
  capabilities: (o) => viscaCapabilities(o.presets),
  create: (ctx) => new ViscaIpDriver(ctx),
};
