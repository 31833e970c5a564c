/**
 * Device-side simulator of a Sony VISCA over IP camera (tests and the demo
 * room), after the Sony SRG-300H / SRG-120DH technical manual, "VISCA over
 * IP" section: the 8-byte header (./../visca/ip.ts) around the packets of the
 * VISCA camera model (./visca.ts).
 *
 * - VISCA command / inquiry: the payload goes to the camera model; each of its
 *   replies (ACK, completion, error, answer) goes back as a VISCA reply
 *   (01 11) carrying the request's sequence number.
 * - Control RESET (02 00, payload 01): the expected sequence is reset; the
 *   answer is a control reply ACK (02 01, payload 01) with the same number.
 * - A command or inquiry repeating the sequence number of the previous one
 *   (a retransmission of something already received) is not executed again:
 *   the answer is ERROR 0F 01 "abnormality in the sequence number", sent as a
 *   control command (02 00) — the manual lists ERROR among control payloads.
 * - Unknown payload types, or a length field that does not match: ERROR 0F 02.
 *
 * Runs on any datagram-preserving byte transport: a `UdpListener` (real UDP
 * on 127.0.0.1) or a memory pair (one write = one `data` chunk). Knobs for
 * tests: `dropInbound(n)` loses the next n datagrams on the way to the
 * camera, `dropReplies(n)` the next n replies on the way back, `silent`
 * (nothing answers; what arrives is logged as dropped).
 */
import type { ByteTransport } from '../transports/types.js';
import { decodeVip, encodeVip, VIP_ERROR, VIP_ERROR_MESSAGE, VIP_ERROR_SEQUENCE, VIP_HEADER, VIP_RESET, VIP_RESET_ACK } from '../visca/ip.js';
import { ViscaCameraModel, type ViscaCameraOptions, type ViscaCameraState } from './visca.js';

export interface ViscaIpSimEvent {
  direction: 'in' | 'out';
  /** 'dropped' when a knob lost it. */
  fate: 'delivered' | 'dropped';
  type: string;
  seq: number;
  payload: Buffer;
}

export class ViscaIpSim {
  readonly camera: ViscaCameraModel;
  /** Every datagram in and out, decoded, for assertions. */
  readonly log: ViscaIpSimEvent[] = [];
  /** RESET commands received. */
  resets = 0;
  private lastSeq: number | undefined;
  private dropIn = 0;
  private dropOut = 0;

  constructor(
    private readonly transport: ByteTransport,
    options: Omit<ViscaCameraOptions, 'address'> = {},
  ) {
    this.camera = new ViscaCameraModel({ ...options, address: 1 });
    transport.on('data', this.onDatagram);
    transport.start();
  }

  get state(): ViscaCameraState {
    return this.camera.state;
  }

  set silent(silent: boolean) {
    this.camera.silent = silent;
  }

  get silent(): boolean {
    return this.camera.silent;
  }

  /** Lose the next `n` datagrams sent to the camera. */
  dropInbound(n: number): void {
    this.dropIn = n;
  }

  /** Lose the next `n` datagrams the camera sends. */
  dropReplies(n: number): void {
    this.dropOut = n;
  }

  async close(): Promise<void> {
    this.camera.close();
    this.transport.off('data', this.onDatagram);
    await this.transport.stop();
  }

  private readonly onDatagram = (datagram: Buffer): void => {
    const msg = decodeVip(datagram);
    const seq = datagram.length >= VIP_HEADER ? datagram.readUInt32BE(4) : 0;
    const silent = this.camera.silent;
    if (this.dropIn > 0 || silent) {
      if (!silent) this.dropIn--;
      this.log.push({ direction: 'in', fate: 'dropped', type: msg.ok ? msg.value.type : 'invalid', seq, payload: datagram.subarray(VIP_HEADER) });
      return;
    }
    if (!msg.ok) {
      this.log.push({ direction: 'in', fate: 'delivered', type: 'invalid', seq, payload: datagram.subarray(VIP_HEADER) });
      return this.send('control', seq, [VIP_ERROR, VIP_ERROR_MESSAGE]);
    }
    const m = msg.value;
    this.log.push({ direction: 'in', fate: 'delivered', type: m.type, seq: m.seq, payload: m.payload });
    if (m.type === 'control') {
      if (m.payload.length === 1 && m.payload[0] === VIP_RESET) {
        this.resets++;
        this.lastSeq = undefined;
        return this.send('controlReply', m.seq, [VIP_RESET_ACK]);
      }
      return this.send('control', m.seq, [VIP_ERROR, VIP_ERROR_MESSAGE]);
    }
    if (m.type !== 'command' && m.type !== 'inquiry') return this.send('control', m.seq, [VIP_ERROR, VIP_ERROR_MESSAGE]);
    if (this.lastSeq === m.seq) return this.send('control', m.seq, [VIP_ERROR, VIP_ERROR_SEQUENCE]);
    this.lastSeq = m.seq;
    this.camera.handle(m.payload, (reply) => this.send('reply', m.seq, reply));
  };

  private send(type: 'reply' | 'control' | 'controlReply', seq: number, payload: Uint8Array | number[]): void {
    const bytes = Uint8Array.from(payload);
    if (this.dropOut > 0) {
      this.dropOut--;
      this.log.push({ direction: 'out', fate: 'dropped', type, seq, payload: Buffer.from(bytes) });
      return;
    }
    this.log.push({ direction: 'out', fate: 'delivered', type, seq, payload: Buffer.from(bytes) });
    if (this.transport.isUp) this.transport.write(encodeVip(type, seq, bytes)).catch(() => undefined);
  }
}
