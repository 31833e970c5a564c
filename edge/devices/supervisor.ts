/**
 * The device supervisor: owns every configured device's driver, serialises
 * commands (one in flight per device, with a timeout), keeps each device's
 * state (online, capability values, last error), publishes it retained on
 * the bus, and turns driver events into stored, published records.
 *
 * Availability is logged once when a device goes down and once when it
 * returns (shared/STYLE.md pattern 9).
 */
import { commandTable, type Capability, type CommandSpec } from '../../drivers/capabilities.js';
import type { CardRead, DeviceDriver, Reading, StatePatch } from '../../drivers/contract.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError, isDeviceError } from '../../drivers/errors.js';
import type { EdgeConfig, DeviceConfig } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { DeviceStateMessage } from '../schemas/bus.js';
import type { Topics } from '../schemas/topics.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { DriverRegistry } from './registry.js';
import { buildTransport, lineKey, type BuiltTransport, type TransportDeps } from './transports.js';
import type { GpioBackend } from '../../drivers/transports/gpio.js';
import { Mutex } from '../../drivers/util/mutex.js';
import { diffDevices, type DeviceDiff } from '../config/diff.js';

export interface BusPublisher {
  publish(topic: string, payload: object, opts?: { retain?: boolean; qos?: 0 | 1 }): Promise<void>;
}

/** Where committed card taps go next (attendance), and which lesson a record belongs to. */
export interface TapSink {
  /** The lesson a tap at `ts` is stored with: the one whose attendance window holds it. */
  lessonIdFor(ts: number): string | undefined;
  handle(tap: { reader: string; uid: string; number?: string; ts: number }): Promise<unknown>;
}

export interface Actor {
  username: string;
  role: string;
}

export interface CommandResult {
  ok: boolean;
  state?: StatePatch;
  error?: { code: string; message: string };
}

interface ManagedDevice {
  config: DeviceConfig;
  driver: DeviceDriver;
  built: BuiltTransport;
  capabilities: Capability[];
  commands: Map<string, CommandSpec>;
  status: DeviceStateMessage;
  /** Tail of the per-device command chain: one command in flight. */
  queue: Promise<unknown>;
  queued: number;
}

const MAX_QUEUED = 16;

export class DeviceSupervisor {
  private readonly devices = new Map<string, ManagedDevice>();
  private readonly gpio = new Map<string, GpioBackend>();
  /** Lines used by more than one device: built once, stopped by the supervisor. */
  private readonly sharedLines = new Map<string, { built: BuiltTransport; lock: Mutex }>();
  /** The device list in force (the config's, then the last reconfiguration's). */
  private configured: DeviceConfig[] = [];

  constructor(
    private readonly ctx: {
      config: EdgeConfig;
      registry: DriverRegistry;
      logger: Logger;
      clock: Clock;
      metrics: Metrics;
      store: Store;
      bus: BusPublisher;
      topics: Topics;
      taps: TapSink;
    },
  ) {}

  /** Create and open every device. A device that fails to open is kept, offline, with its error. */
  async start(): Promise<void> {
    this.configured = [...this.ctx.config.devices];
    const users = lineUsers(this.configured);
    for (const dev of this.configured) await this.startDevice(dev, users);
  }

  /**
   * Replace the device list at run time (a configuration push): stops the
   * removed and changed devices, starts the added and changed ones, and leaves
   * the others running untouched. Devices on a shared line are restarted
   * together (edge/config/diff.ts). Returns what it did.
   */
  async reconfigure(next: readonly DeviceConfig[]): Promise<DeviceDiff> {
    const diff = diffDevices(this.configured, next);
    for (const id of diff.stop) {
      const d = this.devices.get(id);
      if (!d) continue;
      this.devices.delete(id);
      await this.closeDevice(d);
      this.ctx.metrics.deviceOnline.remove({ device: id, driver: d.config.driver });
    }
    // A shared line none of the remaining devices uses is closed (it is rebuilt if new devices share it).
    for (const [key, line] of this.sharedLines) {
      if ([...this.devices.values()].some((d) => lineKey(d.config) === key)) continue;
      this.sharedLines.delete(key);
      if (line.built.handle.type === 'bytes') {
        await line.built.handle.transport.stop().catch((e: unknown) => this.ctx.logger.warn({ err: e, line: key }, 'error while closing a shared line'));
      }
    }
    // A removed device's retained state would otherwise outlive it on the bus (and, through the
    // uplink's telemetry, in the district's fleet view): an empty retained message clears it.
    for (const id of diff.removed) {
      await this.ctx.bus
        .publish(this.ctx.topics.deviceState(id), Buffer.alloc(0), { retain: true, qos: 1 })
        .catch((e: unknown) => this.ctx.logger.warn({ err: e, device: id }, 'could not clear the removed device\'s state'));
    }
    this.configured = [...next];
    const users = lineUsers(next);
    const starting = new Set(diff.start);
    for (const dev of next) if (starting.has(dev.id)) await this.startDevice(dev, users);
    // Keep the configured order (the kiosk lists devices in it).
    const byId = new Map(this.devices);
    this.devices.clear();
    for (const dev of next) {
      const d = byId.get(dev.id);
      if (d) this.devices.set(dev.id, d);
    }
    this.ctx.logger
      .child({ ns: 'edge:devices' })
      .info({ added: diff.added, removed: diff.removed, changed: diff.changed, unchanged: diff.unchanged.length }, 'devices reconfigured');
    return diff;
  }

  /** The device list in force. */
  configuredDevices(): readonly DeviceConfig[] {
    return this.configured;
  }

  private async startDevice(dev: DeviceConfig, users: Map<string, number>): Promise<void> {
    const deps: TransportDeps = { logger: this.ctx.logger, gpio: this.gpio };
    const def = this.ctx.registry.get(dev.driver);
    if (!def) throw new Error(`device ${dev.id}: unknown driver ${dev.driver}`); // validated earlier
    const options = def.optionsSchema.parse(dev.options);
    // Drivers namespace their own logs (`drv:mdc`, device id); the supervisor logs as edge:devices.
    const logger = this.ctx.logger.child({ ns: 'edge:devices', device: dev.id });
    const key = lineKey(dev);
    let built: BuiltTransport;
    let line: { lock: Mutex; shared: boolean } | undefined;
    if (key && (users.get(key) ?? 0) > 1) {
      let shared = this.sharedLines.get(key);
      if (!shared) {
        shared = { built: buildTransport(dev, deps), lock: new Mutex() };
        this.sharedLines.set(key, shared);
      }
      built = shared.built;
      line = { lock: shared.lock, shared: true };
    } else {
      built = buildTransport(dev, deps);
      line = built.handle.type === 'bytes' ? { lock: new Mutex(), shared: false } : undefined;
    }
    const driver = def.create({ deviceId: dev.id, options, transport: built.handle, logger: this.ctx.logger, clock: this.ctx.clock, line });
    const capabilities = def.capabilities(options);
    const managed: ManagedDevice = {
      config: dev,
      driver,
      built,
      capabilities,
      commands: commandTable(capabilities),
      status: {
        deviceId: dev.id,
        kind: dev.kind,
        driver: dev.driver,
        online: false,
        state: {},
        lastError: null,
        ts: this.ctx.clock.now(),
      },
      queue: Promise.resolve(),
      queued: 0,
    };
    this.devices.set(dev.id, managed);
    this.ctx.metrics.deviceOnline.set({ device: dev.id, driver: dev.driver }, 0);
    this.wire(managed, logger);
    built.simulator?.start();
    try {
      await driver.open();
    } catch (e) {
      this.setError(managed, e);
      logger.error({ err: e }, 'device failed to open; it stays offline and is retried by its transport');
    }
    void this.publishState(managed);
  }

  /** False once a device was stopped by a reconfiguration: late events of its old driver are ignored. */
  private current(d: ManagedDevice): boolean {
    return this.devices.get(d.config.id) === d;
  }

  private async closeDevice(d: ManagedDevice): Promise<void> {
    try {
      await d.driver.close();
      await d.built.simulator?.stop();
    } catch (e) {
      this.ctx.logger.warn({ err: e, device: d.config.id }, 'error while closing device');
    }
  }

  private wire(d: ManagedDevice, logger: Logger): void {
    const { driver } = d;
    driver.on('state', (patch) => {
      if (!this.current(d)) return;
      this.merge(d, patch);
      void this.publishState(d);
    });
    driver.on('online', (online, reason) => {
      if (!this.current(d) || online === d.status.online) return;
      d.status.online = online;
      if (!online) d.status.lastError = { message: `${d.config.id}: offline${reason ? `: ${reason}` : ''}`, code: 'offline', ts: this.ctx.clock.now() };
      this.ctx.metrics.deviceOnline.set({ device: d.config.id, driver: d.config.driver }, online ? 1 : 0);
      // The driver logs the transition once with its protocol detail; keep a debug trace here.
      logger.debug({ online, reason }, 'device availability changed');
      void this.publishState(d);
    });
    if (d.built.handle.type === 'bytes') {
      // The transport says why a line is down (port missing, connection refused) even before the driver ever saw it up.
      const transport = d.built.handle.transport;
      transport.on('down', (err) => {
        if (!err || !this.current(d)) return;
        d.status.lastError = { message: `${d.config.id}: ${transport.description}: ${err.message}`, code: 'transport-down', ts: this.ctx.clock.now() };
        void this.publishState(d);
      });
    }
    // A failed poll or command sets lastError, the next success clears it (drivers on the request/response kit).
    driver.on('fault', (error) => {
      if (!this.current(d)) return;
      if (error) this.setError(d, error);
      else if (d.status.online !== false) d.status.lastError = null;
      void this.publishState(d);
    });
    driver.on('metricError', (metric) => {
      // Labels only from the device's configured metrics: a name from the device never becomes a series.
      if (this.current(d) && d.capabilities.some((c) => c.meta?.metric === metric)) this.ctx.metrics.deviceMetricErrors.inc({ device: d.config.id, metric });
    });
    driver.on('malformed', (detail) => {
      this.ctx.metrics.malformedFrames.inc({ device: d.config.id });
      logger.warn({ detail }, 'malformed frame dropped');
    });
    driver.on('reading', (r) => {
      if (this.current(d)) void this.onReading(d, r, logger);
    });
    driver.on('card', (c) => {
      if (this.current(d)) void this.onCard(d, c, logger);
    });
  }

  private async onReading(d: ManagedDevice, r: Reading, logger: Logger): Promise<void> {
    try {
      await this.ctx.store.recordReading({ device: d.config.id, metric: r.metric, value: r.value, unit: r.unit, ts: r.ts });
      await this.ctx.bus.publish(this.ctx.topics.sensor(d.config.id, r.metric), { value: r.value, unit: r.unit, ts: r.ts });
    } catch (e) {
      logger.error({ err: e, metric: r.metric }, 'could not store a sensor reading');
    }
  }

  private async onCard(d: ManagedDevice, c: CardRead, logger: Logger): Promise<void> {
    try {
      const lessonId = this.ctx.taps.lessonIdFor(c.ts);
      await this.ctx.store.recordCardTap({ reader: d.config.id, uid: c.uid, number: c.number, ts: c.ts, lessonId });
      const msg: Record<string, unknown> = { reader: d.config.id, uid: c.uid, ts: c.ts };
      if (c.number !== undefined) msg.number = c.number;
      await this.ctx.bus.publish(this.ctx.topics.card, msg, { qos: 1 });
      await this.ctx.taps.handle({ reader: d.config.id, uid: c.uid, number: c.number, ts: c.ts });
    } catch (e) {
      logger.error({ err: e, uid: c.uid }, 'could not store a card tap');
    }
  }

  /**
   * Merge a driver's state patch. `tracked` is not a capability value but a
   * flag of the whole state (the protocol cannot query the device, so the
   * state is the last commanded one): it goes to the message's top level.
   */
  private merge(d: ManagedDevice, patch: StatePatch): void {
    const { tracked, ...values } = patch;
    if (typeof tracked === 'boolean') d.status.tracked = tracked;
    d.status.state = { ...d.status.state, ...values };
  }

  private setError(d: ManagedDevice, e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    d.status.lastError = { message, code: isDeviceError(e) ? e.code : undefined, ts: this.ctx.clock.now() };
  }

  private async publishState(d: ManagedDevice): Promise<void> {
    d.status.ts = this.ctx.clock.now();
    try {
      await this.ctx.bus.publish(this.ctx.topics.deviceState(d.config.id), d.status, { retain: true, qos: 1 });
    } catch (e) {
      this.ctx.logger.warn({ err: e, device: d.config.id }, 'could not publish device state');
    }
  }

  /** Re-publish every device's retained state (after the broker restarted). */
  async republishAll(): Promise<void> {
    await Promise.all([...this.devices.values()].map((d) => this.publishState(d)));
  }

  list(): Array<DeviceStateMessage & { name?: string; capabilities: Array<{ type: string; meta?: Record<string, unknown>; commands: string[] }> }> {
    return [...this.devices.values()].map((d) => ({
      ...d.status,
      name: d.config.name,
      capabilities: d.capabilities.map((c) => ({ type: c.type, meta: c.meta, commands: Object.keys(c.commands) })),
    }));
  }

  get(id: string): DeviceStateMessage | undefined {
    return this.devices.get(id)?.status;
  }

  /** Simulator of a `sim` device (demo room and tests), if any. */
  simulator(id: string) {
    return this.devices.get(id)?.built.simulator;
  }

  /**
   * Ask a device for its status (its `refresh` command) where it has one: the
   * check after a configuration push. Not audited (the push is). Undefined
   * when the device has no status query.
   */
  async probe(deviceId: string): Promise<CommandResult | undefined> {
    const d = this.devices.get(deviceId);
    if (!d?.commands.has('refresh')) return undefined;
    return this.run(deviceId, 'refresh', {});
  }

  /**
   * Validate, queue and run one command; audited with its result. Never
   * throws: the result says what went wrong, naming the device and command.
   */
  async execute(deviceId: string, command: string, args: Record<string, unknown>, actor: Actor): Promise<CommandResult> {
    const result = await this.run(deviceId, command, args);
    const ts = this.ctx.clock.now();
    this.ctx.metrics.deviceCommands.inc({ device: deviceId, command, result: result.ok ? 'ok' : (result.error?.code ?? 'error') });
    try {
      await this.ctx.store.recordAudit({
        actor: actor.username,
        role: actor.role,
        action: 'device.command',
        target: deviceId,
        args: { command, args },
        result: result.ok ? 'ok' : result.error?.code === 'invalid-args' || result.error?.code === 'unknown-device' ? 'refused' : 'error',
        error: result.error?.message,
        ts,
      });
    } catch (e) {
      this.ctx.logger.error({ err: e }, 'could not write the audit record of a command');
    }
    return result;
  }

  private async run(deviceId: string, command: string, args: Record<string, unknown>): Promise<CommandResult> {
    const d = this.devices.get(deviceId);
    if (!d) return { ok: false, error: { code: 'unknown-device', message: `no device "${deviceId}"` } };
    const spec = d.commands.get(command);
    if (!spec) {
      const known = [...d.commands.keys()].join(', ') || 'none';
      return { ok: false, error: { code: 'unsupported', message: `${deviceId}: no command "${command}" (it has: ${known})` } };
    }
    const parsed = spec.args.safeParse(args);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ');
      return { ok: false, error: { code: 'invalid-args', message: `${deviceId}: ${command}: ${why}` } };
    }
    if (!d.status.online) return this.fail(d, new DeviceOfflineError(deviceId, command));
    if (d.queued >= MAX_QUEUED) return this.fail(d, new DeviceError('busy', deviceId, command, `${MAX_QUEUED} commands already queued`));

    d.queued++;
    const job = d.queue.then(async () => {
      try {
        const patch = await withTimeout(d.driver.execute(command, parsed.data), d.config.commandTimeoutMs, () => new DeviceTimeoutError(deviceId, command, d.config.commandTimeoutMs));
        this.merge(d, patch);
        d.status.lastError = null;
        void this.publishState(d);
        return { ok: true, state: patch } satisfies CommandResult;
      } catch (e) {
        return this.fail(d, e);
      } finally {
        d.queued--;
      }
    });
    d.queue = job;
    return job;
  }

  private fail(d: ManagedDevice, e: unknown): CommandResult {
    this.setError(d, e);
    void this.publishState(d);
    const code = isDeviceError(e) ? e.code : 'error';
    const message = e instanceof Error ? e.message : String(e);
    return { ok: false, error: { code, message } };
  }

  async stop(): Promise<void> {
    for (const d of this.devices.values()) await this.closeDevice(d);
    for (const [key, line] of this.sharedLines) {
      if (line.built.handle.type !== 'bytes') continue;
      await line.built.handle.transport.stop().catch((e: unknown) => this.ctx.logger.warn({ err: e, line: key }, 'error while closing a shared line'));
    }
  }
}

/** How many devices use each physical line. */
function lineUsers(devices: readonly DeviceConfig[]): Map<string, number> {
  const users = new Map<string, number>();
  for (const dev of devices) {
    const key = lineKey(dev);
    if (key) users.set(key, (users.get(key) ?? 0) + 1);
  }
  return users;
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
