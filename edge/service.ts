/**
 * The edge service's composition root (wiring only): store, credentials,
 * broker, devices, scenes, HTTP API. `start()` brings them up in dependency
 * order and `stop()` drains and closes them in reverse.
 */
import { mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createBroker, type Broker } from './broker/broker.js';
import type { EdgeConfig } from './config/schema.js';
import { DeviceSupervisor } from './devices/supervisor.js';
import type { DriverRegistry } from './devices/registry.js';
import { createIngest } from './ingest.js';
import { createMetrics, type Metrics } from './metrics.js';
import { SceneRunner } from './scenes/scenes.js';
import { parseTopic, topics as topicsFor, type Topics } from './schemas/topics.js';
import type { AlertMessage } from './schemas/bus.js';
import { loadCredentials, type CredentialStore } from './security/credentials.js';
import { openStore, type Store } from './store/index.js';
import { DEFAULT_OUTBOX_LIMITS, OutboxPolicy } from './store/outbox.js';
import { createApi } from './api/server.js';
import type { RecorderControl } from './recording/types.js';
import { startClassroom, type Classroom, type ClassroomTiming } from './classroom.js';
import type { TapSink } from './devices/supervisor.js';
import type { Clock } from './util/clock.js';
import { ClockSyncProbe } from './util/clock-sync.js';
import { alertAckHandler } from '../sync/alert-acks.js';
import type { Logger } from './util/logger.js';
import { packageInfo } from './util/package-info.js';
import { DatasetDownlink } from '../sync/datasets-downlink.js';
import { ConfigDownlink } from '../sync/config-downlink.js';
import { ConfigApplier, effectiveConfig } from './config/apply.js';
import { CommandRegistry, RemoteCommands } from '../sync/remote-commands.js';
import { registerBuiltinCommands, registerConfigCommand } from '../sync/remote-command-handlers.js';
import type { LogRing } from './util/log-ring.js';
// Type only: the uplink (and mqtt.js with it) is loaded when a cloud is configured (idle RSS).
import type { Uplink } from '../sync/uplink.js';
import { districtTopics } from '../sync/protocol.js';
// Type only: the recorder is loaded when the config has a recording section.
import type { RecordingService } from './recording/service.js';

export interface ServiceContext {
  config: EdgeConfig;
  /** The embedded demo room (no config file): seeds the demo timetable and roster. */
  demo?: boolean;
  registry: DriverRegistry;
  logger: Logger;
  clock: Clock;
  /** Re-evaluation periods of the lesson clock and attendance (simulated days in tests run them fast). */
  timing?: ClassroomTiming;
  /** The ring of recent log records the logger writes to (for the `logs.recent` remote command). */
  logRing?: LogRing;
  /** Stops the service and exits so that systemd starts it again (the `service.restart` remote command). */
  restart?: (reason: string) => void;
  /** Whether the wall clock is NTP-synchronised (default: a ClockSyncProbe asking timedatectl once a minute). */
  clockSync?: { synced(): boolean };
  /** The recorder the API drives (kiosk buttons, technicians' routes, /health); absent: none. */
  recorder?: RecorderControl;
}

export interface RunningService {
  readonly config: EdgeConfig;
  readonly ports: { mqtt?: number; ws?: number; api: number };
  readonly store: Store;
  readonly broker: Broker;
  readonly devices: DeviceSupervisor;
  readonly metrics: Metrics;
  readonly credentials: CredentialStore;
  readonly classroom: Classroom;
  /** The district link (uplink), when `cloud` is configured and it could start. */
  readonly sync: Uplink | null;
  /** Configuration pushes (docs/config-push.md): `applyConfigPush` for the downlink and technicians' commands. */
  readonly configPush: ConfigApplier;
  /** The technicians' remote commands from the district (when the link runs): `register` adds commands. */
  readonly remoteCommands: CommandRegistry | null;
  /** The lesson recorder, when the config has a `recording` section. */
  readonly recorder: RecordingService | null;
  /** Where first-start credentials were written, if this start created them. */
  readonly createdCredentialsFile: string | null;
  raiseAlert(alert: Omit<AlertMessage, 'id' | 'ts'>): Promise<void>;
  stop(): Promise<void>;
}

export async function startService(ctx: ServiceContext): Promise<RunningService> {
  const { config, logger, clock } = ctx;
  const log = logger.child({ ns: 'edge:main' });
  const started = clock.now();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  chmodSync(config.dataDir, 0o750);

  const metrics = createMetrics({ defaultMetrics: true });
  const topics: Topics = topicsFor(config.room.id);

  // The bounded outbox (edge/store/outbox.ts) only matters with a district link; its alerts are late-bound.
  let outboxAlert: (level: number, fill: number, events: number) => void = () => undefined;
  const outbox = config.cloud
    ? new OutboxPolicy({ limits: config.cloud.outbox ?? DEFAULT_OUTBOX_LIMITS, onLevel: (level, s) => outboxAlert(level, s.fill, s.events) })
    : undefined;
  // Read at each append; the probe (started once the store is open) answers from its latest run.
  let probe: ClockSyncProbe | null = null;
  const clockSynced = (): boolean => (ctx.clockSync ?? probe)?.synced() ?? false;
  const store = openStore({
    path: join(config.dataDir, 'store.db'),
    roomId: config.room.id,
    logger,
    clock,
    clockSynced,
    flushIntervalMs: config.store.flushIntervalMs,
    maxBatch: config.store.maxBatch,
    metrics,
    outbox,
  });

  // The devices, scenes and live targets of the last applied push win over the file's until a technician resets them.
  const effective = effectiveConfig(config, store, ctx.registry);
  if (!ctx.clockSync) {
    probe = new ClockSyncProbe({ logger });
    void probe.start();
  }
  const cleanup: Array<() => Promise<void>> = [() => store.close(), async () => probe?.stop()];
  const unwind = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((e: unknown) => log.error({ err: e }, 'error during shutdown'));
  };

  try {
    const { store: credentials, created } = await loadCredentials({
      dataDir: config.dataDir,
      configured: config.broker.users,
      logger: logger.child({ ns: 'edge:security' }),
    });

    // The broker needs the ingest hook, which needs the devices and the classroom, which publish
    // through the broker: late-bound here, and the broker listens only once all of them are up.
    let devices: DeviceSupervisor | undefined;
    let broker: Broker | undefined;
    let classroom: Classroom | undefined;
    let sync: Uplink | null = null;
    let remoteCommands: CommandRegistry | null = null;
    const taps: TapSink = {
      lessonIdFor: (ts) => classroom?.tapLessonIdFor(ts),
      handle: async (tap) => classroom?.onCardTap(tap),
    };
    const bus = {
      publish: async (topic: string, payload: object, opts?: { retain?: boolean; qos?: 0 | 1 }) => {
        if (sync) {
          // A device's retained state also goes up to the district as its telemetry (latest wins).
          const t = parseTopic(config.room.id, topic);
          if (t?.kind === 'device-state') {
            // An empty retained message clears a removed device's state (DeviceSupervisor.reconfigure).
            if (Buffer.isBuffer(payload) && payload.length === 0) sync.forgetTelemetry(t.deviceId);
            else sync.telemetry(t.deviceId, payload);
          }
        }
        if (broker) await broker.publish(topic, payload, opts);
      },
    };
    const ingest = createIngest({
      roomId: config.room.id,
      store,
      get devices() {
        return devices!;
      },
      taps,
      behaviour: {
        ingest: (raw, source, opts) => classroom!.behaviour.ingest(raw, source, opts),
      },
      metrics,
      logger: logger.child({ ns: 'edge:ingest' }),
      topics,
      publishReply: (deviceId, reply) => bus.publish(topics.deviceReply(deviceId), reply, { qos: 1 }),
    });
    broker = createBroker({
      roomId: config.room.id,
      logger: logger.child({ ns: 'edge:broker' }),
      metrics,
      credentials,
      ingest,
      maxPayloadBytes: config.broker.maxPayloadBytes,
    });
    cleanup.push(() => broker!.close());

    devices = new DeviceSupervisor({ config: effective.config, registry: ctx.registry, logger, clock, metrics, store, bus, topics, taps });
    cleanup.push(() => devices!.stop());
    await devices.start();
    const scenes = new SceneRunner(effective.config.scenes, devices);
    const configPush = new ConfigApplier({ config: effective.config, store, devices, scenes, registry: ctx.registry, clock, logger, metrics });
    const interrupted = await configPush.recover();

    const raiseAlert = async (a: Omit<AlertMessage, 'id' | 'ts'>) => {
      const alert: AlertMessage = { id: randomUUID(), ts: clock.now(), ...a };
      log.warn({ alert }, 'alert');
      // Logged as an event too, so that it reaches the district with the next sync (the fleet page's open alerts).
      await store
        .write((tx) => tx.appendEvent({ stream: 'alert', type: 'alert/raised', entityId: alert.id, payload: alert, ts: alert.ts }))
        .catch((e: unknown) => log.error({ err: e, code: alert.code }, 'could not log the alert for the district'));
      await bus.publish(topics.alert, alert, { qos: 1 });
    };
    outboxAlert = (level, fill, events) => {
      if (level === 0) {
        log.info({ fill, events }, 'outbox back below 50 % of its cap');
        return;
      }
      void raiseAlert({
        severity: level >= 0.8 ? 'critical' : 'warning',
        code: level >= 1 ? 'outbox-full' : 'outbox-filling',
        message:
          `the district outbox holds ${events} unacknowledged events (${Math.round(fill * 100)} % of its cap); ` +
          (level >= 0.5 ? 'sensor readings are being downsampled; attendance, audit and lesson records are never dropped' : ''),
        data: { level, fill, events },
      }).catch((e: unknown) => log.error({ err: e }, 'could not raise the outbox alert'));
    };
    if (store.recovered) {
      await raiseAlert({
        severity: 'critical',
        code: 'store-recovered',
        message: `the store was corrupt and was moved aside to ${store.recovered.movedTo}; a new empty store is in use`,
        data: { movedTo: store.recovered.movedTo, reason: store.recovered.reason },
      });
    }

    if (effective.problems) {
      await raiseAlert({
        severity: 'warning',
        code: 'config-overlay-invalid',
        message: `the pushed configuration v${effective.active?.version ?? '?'} no longer validates; the file's devices, scenes and live targets are in force`,
        data: { problems: effective.problems.slice(0, 20) },
      });
    }

    classroom = await startClassroom({
      config,
      demo: ctx.demo ?? false,
      store,
      clock,
      logger,
      topics,
      publish: bus.publish,
      raiseAlert,
      scenes,
      timing: ctx.timing,
      // Verdicts on down/receipts that are malformed or for another room (they were logged but not counted).
      onSyncRejected: (reason) => metrics.syncErrors.inc({ reason: reason === 'malformed-receipt' ? reason : `receipt-${reason}` }),
    });
    cleanup.push(() => classroom!.stop());

    // With the effective config: the live targets of the last applied push win over the file's.
    const recorder = effective.config.recording ? await startRecorder(effective.config, { store, clock, logger, metrics, classroom, devices, raiseAlert, publish: bus.publish, topics }) : null;
    if (recorder) cleanup.push(() => recorder.close());
    // Late-bound: the recorder needs the lesson clock, which starts after the applier.
    if (recorder) configPush.setLive({ replace: (targets) => recorder.replaceLive(targets) });

    if (config.cloud) {
      // Started after the store, stopped before it closes (cleanup runs in reverse). A link that cannot
      // start (unreadable certificate) is an alert, not a reason to stop the classroom.
      const { Uplink } = await import('../sync/uplink.js');
      const uplink = new Uplink({ roomId: config.room.id, store, config: config.cloud, logger, clock, clockSynced, metrics });
      try {
        uplink.start();
        sync = uplink;
        cleanup.push(() => uplink.stop());
        const downlink = new DatasetDownlink({
          roomId: config.room.id,
          datasets: classroom.datasets,
          store,
          clock,
          logger,
          publish: async (topic, payload) => uplink.publishUp(topic, payload),
          onRejected: () => metrics.syncErrors.inc({ reason: 'malformed-dataset' }),
        });
        uplink.subscribe(downlink.subscription, (topic, payload) => void downlink.handle(topic, payload));
        uplink.subscribe(districtTopics(config.room.id).receipts, (_topic, payload) => void classroom!.receipts.handleOutcome(payload));
        const onAlertAck = alertAckHandler({
          roomId: config.room.id,
          clock,
          logger,
          newId: randomUUID,
          publishAlert: (alert) => bus.publish(topics.alert, alert, { qos: 1 }),
          onRejected: () => metrics.syncErrors.inc({ reason: 'malformed-alert-ack' }),
        });
        uplink.subscribe(districtTopics(config.room.id).alertAcks, (topic, payload) => void onAlertAck(topic, payload).catch((e: unknown) => log.error({ err: e }, 'alert acknowledgement not shown')));
        const configDownlink = new ConfigDownlink({
          roomId: config.room.id,
          applier: configPush,
          logger,
          publish: async (topic, payload) => uplink.publishUp(topic, payload),
          onRejected: () => metrics.syncErrors.inc({ reason: 'malformed-config' }),
        });
        uplink.subscribe(configDownlink.subscription, (topic, payload) => void configDownlink.handle(topic, payload));
        for (const i of interrupted) if (i.row.source === 'cloud') await configDownlink.report(i.result);
        remoteCommands = new CommandRegistry();
        registerBuiltinCommands(remoteCommands, { devices, scenes, logRing: ctx.logRing ?? null, restart: ctx.restart ?? null });
        registerConfigCommand(remoteCommands, configPush);
        if (recorder) {
          const { registerRecordingCommands } = await import('./recording/commands.js');
          registerRecordingCommands(remoteCommands, recorder);
        }
        const executor = new RemoteCommands({
          roomId: config.room.id,
          store,
          clock,
          districtNow: () => uplink.districtTime.now(),
          logger,
          registry: remoteCommands,
          publish: (topic, msg) => uplink.publishUp(topic, msg),
          onOutcome: (command, status) => {
            metrics.remoteCommands.inc({ command, status });
            if (status === 'malformed') metrics.syncErrors.inc({ reason: 'malformed-command' });
          },
        });
        await executor.recover();
        uplink.subscribe(executor.subscription, (topic, payload) => void executor.handle(topic, payload));
        for (const d of devices.list()) uplink.telemetry(d.deviceId, { deviceId: d.deviceId, kind: d.kind, driver: d.driver, online: d.online, state: d.state, lastError: d.lastError, ts: d.ts });
      } catch (e) {
        await uplink.stop();
        await raiseAlert({
          severity: 'critical',
          code: 'sync-disabled',
          message: `the district link could not start: ${e instanceof Error ? e.message : String(e)}; events are kept in the store`,
          data: { url: config.cloud.url },
        });
      }
    }

    const listened = await broker.listen({
      tcp: { port: config.broker.port, hosts: config.broker.bind },
      ws: { port: config.broker.websocketPort, hosts: config.broker.bind },
    });

    const api = createApi({
      classroom,
      roomId: config.room.id,
      roomName: config.room.name,
      timeZone: config.room.timezone,
      version: packageInfo().version,
      devices,
      scenes,
      store,
      metrics,
      credentials,
      logger,
      clock,
      startedAt: started,
      sync,
      configStatus: () => configPush.status(),
      config,
      raiseAlert,
      recorder: ctx.recorder ?? recorder,
      // The kiosk's live channel reads the bus in process (aedes subscription; no socket, no credentials).
      subscribe: (filter, onMessage) => {
        const deliver = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => {
          onMessage(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
          cb();
        };
        broker!.aedes.subscribe(filter, deliver, () => undefined);
        return () => broker!.aedes.unsubscribe(filter, deliver, () => undefined);
      },
    });
    cleanup.push(() => api.close());
    await api.listen({ port: config.api.port, host: config.api.host });
    const addr = api.server.address();
    const ports = { mqtt: listened.tcpPort, ws: listened.wsPort, api: addr && typeof addr === 'object' ? addr.port : config.api.port };
    log.info({ room: config.room.id, ports, devices: effective.config.devices.length, config: effective.source, dataDir: config.dataDir }, 'classroom-edge started');

    let stopping: Promise<void> | undefined;
    return {
      config,
      ports,
      store,
      broker,
      devices,
      metrics,
      credentials,
      classroom,
      sync,
      configPush,
      remoteCommands,
      recorder,
      createdCredentialsFile: created?.file ?? null,
      raiseAlert,
      stop: () => {
        stopping ??= (async () => {
          log.info('stopping: draining the store, closing the broker and devices');
          await unwind();
          log.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}

/**
 * The lesson recorder and, when the config names the district's upload endpoint, its upload
 * queue. Loaded on demand: a room without cameras does not pay for either.
 */
async function startRecorder(
  config: EdgeConfig,
  d: {
    store: Store;
    clock: Clock;
    logger: Logger;
    metrics: Metrics;
    classroom: Classroom;
    devices: DeviceSupervisor;
    raiseAlert: RunningService['raiseAlert'];
    publish: (topic: string, payload: object, opts?: { retain?: boolean; qos?: 0 | 1 }) => Promise<void>;
    topics: Topics;
  },
): Promise<RecordingService> {
  const rec = config.recording!;
  const { RecordingService } = await import('./recording/service.js');
  const { createUploader } = await import('./recording/uploader.js');
  const uploader = rec.upload ? await createUploader({ config: rec.upload, roomId: config.room.id, timeZone: config.room.timezone, store: d.store, logger: d.logger, registry: d.metrics.registry, clock: d.clock }) : null;
  const recorder = new RecordingService({
    config: rec,
    roomId: config.room.id,
    dataDir: config.dataDir,
    timeZone: config.room.timezone,
    store: d.store,
    clock: d.clock,
    logger: d.logger,
    lessons: d.classroom.lessons,
    roster: d.classroom.roster,
    publish: (msg) => d.publish(d.topics.recording, msg, { retain: true, qos: 1 }),
    raiseAlert: d.raiseAlert,
    ptz: async (device, preset) => {
      const r = await d.devices.execute(device, 'preset', { recall: preset }, { username: 'recorder', role: 'automation' });
      if (!r.ok) throw new Error(r.error?.message ?? 'preset recall failed');
    },
    uploader,
    registry: d.metrics.registry,
  });
  await recorder.open();
  return recorder;
}
