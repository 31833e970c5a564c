/**
 * The driver contract (shared/STYLE.md pattern 1): a driver is a definition
 * `{driver, optionsSchema, capabilities, create(ctx)}` held in a registry.
 *
 * A driver knows bytes and its device's semantics; it knows nothing of
 * lessons, storage or MQTT. It reports through its events; the device
 * supervisor (edge/devices) publishes, stores and serialises commands.
 */
import { EventEmitter } from 'node:events';
import type { z } from 'zod';
import type { Capability } from './capabilities.js';
import type { ByteTransport } from './transports/types.js';
import type { GpioBackend } from './transports/gpio.js';
import type { Mutex } from './util/mutex.js';
import type { Clock } from '../edge/util/clock.js';
import type { Logger } from '../edge/util/logger.js';

export type DeviceKind = 'display' | 'projector' | 'camera' | 'sensor' | 'card-reader' | 'relay' | 'input';

/** Capability state values, flat: `{ power: 'on', input: 'hdmi1', volume: 24 }`. */
export type StateValue = string | number | boolean | null;
export type StatePatch = Record<string, StateValue>;

export interface Reading {
  metric: string;
  value: number;
  unit: string;
  /** Wall-clock ms when read. */
  ts: number;
}

export interface CardRead {
  /** Canonical UID: upper-case hex, no separators (e.g. "62E3086CED"). */
  uid: string;
  /** Printed number where the format defines one (EM4100: decimal of the last 4 bytes). */
  number?: string;
  format: string;
  ts: number;
}

export interface DriverEvents {
  /** Capability state changed (merged into the device's state by the supervisor). */
  state: [patch: StatePatch];
  /** A sensor value. */
  reading: [reading: Reading];
  /** A card presented to a reader (already debounced by the driver). */
  card: [read: CardRead];
  /** The device became reachable (true) or unreachable (false), with the reason. */
  online: [online: boolean, reason?: string];
  /** A frame or message that could not be decoded: counted and logged, never thrown. */
  malformed: [detail: string];
  /**
   * A poll or command failed (the error), or the first success after a
   * failure (null): what the device's `lastError` should say. Emitted by the
   * request/response kit (drivers/kit); a supervisor may ignore it.
   */
  fault: [error: Error | null];
  /** The device refused to read one of the configured metrics (e.g. a Modbus exception reply): counted per metric. */
  metricError: [metric: string];
}

export class DriverEmitter extends EventEmitter {
  override on<E extends keyof DriverEvents>(event: E, listener: (...args: DriverEvents[E]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override off<E extends keyof DriverEvents>(event: E, listener: (...args: DriverEvents[E]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
  override emit<E extends keyof DriverEvents>(event: E, ...args: DriverEvents[E]): boolean {
    return super.emit(event, ...args);
  }
}

export interface DeviceDriver extends DriverEmitter {
  /** Start talking to the device (starts the transport, begins polling). */
  open(): Promise<void>;
  /** Stop polling, release the transport. */
  close(): Promise<void>;
  /**
   * Run one command (arguments already validated against the capability's
   * schema). Resolves with the state that the device confirmed; rejects with a
   * DeviceError (timeout, nak, offline, ...). The supervisor guarantees one
   * command in flight per device.
   */
  execute(command: string, args: Record<string, unknown>): Promise<StatePatch>;
}

export type TransportHandle =
  | { type: 'bytes'; transport: ByteTransport }
  | { type: 'gpio'; backend: GpioBackend; chip: string; line: number };

/**
 * A physical line shared by several devices (an RS-485 bus with several
 * Modbus units, daisy-chained displays): one lock so that one request is in
 * flight on the line, and the transport owned by the supervisor, not by any
 * one driver.
 */
export interface SharedLine {
  lock: Mutex;
  /** True when other devices use the same transport: the driver must not stop it. */
  shared: boolean;
}

export interface DriverContext<O> {
  deviceId: string;
  options: O;
  transport: TransportHandle;
  logger: Logger;
  clock: Clock;
  /** Set by the supervisor for byte transports; drivers serialise their requests with `line.lock`. */
  line?: SharedLine;
}

export interface DriverDefinition<O = unknown> {
  /** Config `driver` name, e.g. 'samsung-mdc'. */
  driver: string;
  /** Device kinds this driver serves. */
  kinds: readonly DeviceKind[];
  /** Transport types it accepts. */
  transports: readonly ('serial' | 'tcp' | 'udp' | 'gpio' | 'sim')[];
  /** One line: vendor document followed. */
  summary: string;
  /**
   * True when several devices may share one line (addressed protocols on
   * RS-485 or daisy chains: Modbus units, MDC display ids, VISCA addresses).
   * Devices of other drivers (e.g. a card reader streaming unsolicited
   * frames) need a line of their own.
   */
  multidrop?: boolean;
  optionsSchema: z.ZodType<O>;
  capabilities(options: O): Capability[];
  create(ctx: DriverContext<O>): DeviceDriver;
}

/**
 * Options type erased for a heterogeneous registry. Sound because the
 * registry always parses options with the same definition's optionsSchema
 * before calling capabilities()/create() (methods are bivariant in TS).
 */
export type AnyDriverDefinition = DriverDefinition<unknown>;
