/**
 * Modbus TCP client on a byte transport (MODBUS Messaging on TCP/IP
 * Implementation Guide V1.0b, §4.4.1): each request gets the next
 * transaction id; the reply is bound to it by the MBAP framer (./mbap.ts);
 * a reply whose transaction id refers to no pending transaction is discarded
 * (§4.4.1.3) — that is what a late reply to a timed-out request becomes.
 *
 * One transaction in flight per connection. The guide allows a client to
 * pipeline up to "NumberMaxOfClientTransaction" requests (§4.4.1.2), but
 * TCP-to-RTU gateways and small devices often serve one at a time, the
 * polls here are seconds apart, and several units behind one gateway share
 * the connection's lock in turn — so pipelining would buy nothing and
 * risks overrunning the device.
 *
 * The unit id of a reply is not checked: the guide says a directly connected
 * server's unit id "is not significant ... and must be discarded"
 * (§4.4.1.3); the transaction id identifies the reply.
 *
 * Timeouts: the guide deliberately sets none (§4.4.1.4); the driver's
 * `timeoutMs` is per attempt, retried `retries` times (§4.4.1.1: "a new
 * retry can be sent"), each retry with a new transaction id.
 */
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import type { ByteTransport } from '../transports/types.js';
import { Waitress } from '../util/waitress.js';
import { decodeResponsePdu, encodeRequestPdu, ModbusExceptionError, type ModbusRequest, type ModbusResponse } from '../modbus/codec.js';
import type { ModbusClient, ModbusClientOptions } from '../modbus/client.js';
import { encodeMbap, MbapResponseFramer, type MbapFrame } from './mbap.js';

const noop = (): void => undefined;

export interface MbapClientOptions extends ModbusClientOptions {
  /** First transaction id (default: random, so that two clients on one connection rarely collide). */
  firstTransactionId?: number;
}

export class MbapClient implements ModbusClient {
  readonly transport: ByteTransport;
  private readonly o: MbapClientOptions;
  private readonly waitress: Waitress<MbapFrame>;
  private readonly framer = new MbapResponseFramer();
  private nextTid: number;
  private attached = false;

  constructor(options: MbapClientOptions) {
    this.o = options;
    this.transport = options.transport;
    this.waitress = new Waitress<MbapFrame>(options.device);
    this.nextTid = (options.firstTransactionId ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
  }

  attach(): void {
    if (this.attached) return;
    this.attached = true;
    this.transport.on('data', this.onData);
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.transport.off('data', this.onData);
    this.linkDown();
  }

  linkDown(): void {
    this.framer.clear();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.o.device, cmd));
  }

  async request(command: string, req: ModbusRequest): Promise<ModbusResponse> {
    const { device, unitId } = this.o;
    if (!this.transport.isUp) throw new DeviceOfflineError(device, command);
    const pdu = encodeRequestPdu(req);
    return this.o.lock.runExclusive(async () => {
      for (let attempt = 0; ; attempt++) {
        if (!this.transport.isUp) throw new DeviceOfflineError(device, command);
        const tid = this.nextTid;
        this.nextTid = (this.nextTid + 1) & 0xffff;
        this.framer.expect({ transactionId: tid, fc: req.fc });
        const wait = this.waitress.waitFor(() => true, { command, timeoutMs: this.o.timeoutMs });
        wait.promise.catch(noop); // awaited below unless the write fails first
        let frame: MbapFrame;
        try {
          await this.transport.write(encodeMbap(tid, unitId, pdu)).catch(() => {
            throw new DeviceOfflineError(device, command);
          });
          frame = await wait.promise;
        } catch (e) {
          wait.cancel();
          this.framer.clear();
          if (e instanceof DeviceTimeoutError && attempt < this.o.retries) {
            this.o.log.debug({ command, attempt, tid, fc: req.fc, address: req.address }, 'no reply, retrying');
            continue;
          }
          throw e;
        }
        const decoded = decodeResponsePdu(req, frame.pdu);
        if (!decoded.ok) {
          this.o.onMalformed(`transaction ${tid}: ${decoded.error}`);
          throw new DeviceError('protocol', device, command, decoded.error);
        }
        const reply = decoded.value;
        if (!reply.ok) throw new ModbusExceptionError(device, command, reply.fc, reply.exception);
        return reply.response;
      }
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.framer.expecting) return; // a late reply, or another unit's turn on a shared connection
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.o.onMalformed(e);
    for (const tid of out.stale) this.o.log.debug({ tid }, 'dropped a late reply to an earlier transaction');
    for (const frame of out.frames) this.waitress.resolve(frame);
  };
}
