/**
 * Modbus RTU master on a byte transport (MODBUS over Serial Line
 * Specification V1.02): one request in flight on the line (the line lock),
 * the t3.5 silence kept before talking, the reply framed by
 * RtuResponseFramer (./framer.ts) and decoded by ./codec.ts.
 *
 * A request that gets no reply is retried (a server such as pymodbus drops a
 * request that arrives behind line noise without answering). Exception
 * replies are not retried: the unit answered, it refuses.
 *
 * Several units may share one RS-485 line: their clients get the same
 * transport and the same lock; each client only parses bytes while its own
 * request is in flight.
 */
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import type { ByteTransport } from '../transports/types.js';
import { Waitress } from '../util/waitress.js';
import { decodeResponse, encodeRequest, ModbusExceptionError, type ModbusRequest, type ModbusResponse } from './codec.js';
import { expectationFor, RtuResponseFramer } from './framer.js';
import type { ModbusClient, ModbusClientOptions } from './client.js';

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RtuClientOptions extends ModbusClientOptions {
  /** Inter-frame silence (t3.5), ms. */
  silenceMs: number;
}

export class RtuClient implements ModbusClient {
  readonly transport: ByteTransport;
  private readonly o: RtuClientOptions;
  private readonly waitress: Waitress<Buffer>;
  private readonly framer: RtuResponseFramer;
  private lastRxAt = -Infinity;
  private attached = false;

  constructor(options: RtuClientOptions) {
    this.o = options;
    this.transport = options.transport;
    this.waitress = new Waitress<Buffer>(options.device);
    this.framer = new RtuResponseFramer({ silenceMs: options.silenceMs, now: () => options.clock.monotonic() });
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
    return this.o.lock.runExclusive(async () => {
      const adu = encodeRequest(unitId, req);
      for (let attempt = 0; ; attempt++) {
        if (!this.transport.isUp) throw new DeviceOfflineError(device, command);
        await this.waitForSilence();
        this.framer.expect(expectationFor(unitId, req));
        const wait = this.waitress.waitFor(() => true, { command, timeoutMs: this.o.timeoutMs });
        wait.promise.catch(noop); // awaited below unless the write fails first
        let frame: Buffer;
        try {
          await this.transport.write(adu).catch(() => {
            throw new DeviceOfflineError(device, command);
          });
          frame = await wait.promise;
        } catch (e) {
          wait.cancel();
          this.framer.clear();
          if (e instanceof DeviceTimeoutError && attempt < this.o.retries) {
            this.o.log.debug({ command, attempt, fc: req.fc, address: req.address }, 'no reply, retrying');
            continue;
          }
          throw e;
        }
        const decoded = decodeResponse(unitId, req, frame);
        if (!decoded.ok) {
          this.o.onMalformed(decoded.error);
          throw new DeviceError('protocol', device, command, decoded.error);
        }
        const reply = decoded.value;
        if (!reply.ok) throw new ModbusExceptionError(device, command, reply.fc, reply.exception);
        return reply.response;
      }
    });
  }

  /** Keep the t3.5 inter-frame gap after the last byte received before talking again. */
  private async waitForSilence(): Promise<void> {
    const left = this.lastRxAt + this.o.silenceMs - this.o.clock.monotonic();
    if (left > 0) await sleep(Math.ceil(left));
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.framer.expecting) return; // not our turn on the line
    this.lastRxAt = this.o.clock.monotonic();
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.o.onMalformed(e);
    for (const frame of out.frames) this.waitress.resolve(frame);
  };
}

/** "serial /dev/ttyUSB0@9600" -> 9600. */
export function baudFromDescription(description: string): number | undefined {
  const m = /@(\d{3,7})\b/.exec(description);
  return m ? Number(m[1]) : undefined;
}
