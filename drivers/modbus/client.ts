/**
 * What a Modbus driver needs from its link: one request, one typed answer.
 * Two implementations: RTU framing on a byte transport (./rtu-client.ts) and
 * MBAP framing for Modbus TCP (../modbus-tcp/client.ts). The sensor poller
 * (./poller.ts) and the relay-board driver (../modbus-relay/) work on either.
 */
import type { ByteTransport } from '../transports/types.js';
import type { Mutex } from '../util/mutex.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import type { ModbusRequest, ModbusResponse } from './codec.js';

export interface ModbusClient {
  readonly transport: ByteTransport;
  /**
   * One request/reply under the line lock, retried after timeouts only.
   * Resolves with the normal response; rejects with DeviceTimeoutError (no
   * reply after 1 + retries attempts), ModbusExceptionError (the unit
   * refused), DeviceOfflineError (link down) or DeviceError('protocol') (a
   * reply that does not answer the request, also reported as malformed).
   */
  request(command: string, req: ModbusRequest): Promise<ModbusResponse>;
  /** Start listening to the transport's bytes. */
  attach(): void;
  /** Stop listening; pending requests fail with DeviceOfflineError. */
  detach(): void;
  /** The link went down: forget partial frames, fail pending requests. */
  linkDown(): void;
}

export interface ModbusClientOptions {
  transport: ByteTransport;
  /** Device id, used in errors. */
  device: string;
  unitId: number;
  /** Reply wait per attempt. */
  timeoutMs: number;
  /** Extra attempts after a timeout. */
  retries: number;
  /** One request in flight per line: shared by every driver on the same transport. */
  lock: Mutex;
  clock: Clock;
  log: Logger;
  /** Bytes that could not be decoded (counted and logged by the driver). */
  onMalformed: (detail: string) => void;
}
