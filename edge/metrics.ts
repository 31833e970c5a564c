/**
 * Prometheus metrics of the edge service (served at /metrics). One registry
 * per service instance, passed in the context: no module-level state, so
 * tests can run several services in one process.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'classroom_edge_' });
  const m = {
    registry,
    eventsCommitted: new Counter({
      name: 'classroom_edge_events_committed_total',
      help: 'Records committed to the store together with their event-log row',
      labelNames: ['stream'] as const,
      registers: [registry],
    }),
    messagesRejected: new Counter({
      name: 'classroom_edge_messages_rejected_total',
      help: 'Bus messages rejected (schema, size, store failure)',
      labelNames: ['topic', 'reason'] as const,
      registers: [registry],
    }),
    publishesRefused: new Counter({
      name: 'classroom_edge_publishes_refused_total',
      help: 'Publishes refused by topic rights',
      labelNames: ['role'] as const,
      registers: [registry],
    }),
    subscriptionsRefused: new Counter({
      name: 'classroom_edge_subscriptions_refused_total',
      help: 'Subscriptions refused by topic rights',
      labelNames: ['role'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'classroom_edge_auth_failures_total',
      help: 'Failed authentications (bus and API)',
      labelNames: ['surface'] as const,
      registers: [registry],
    }),
    deviceMetricErrors: new Counter({
      name: 'classroom_edge_device_metric_errors_total',
      help: 'Reads of a configured sensor metric the device refused (e.g. Modbus exception replies)',
      labelNames: ['device', 'metric'] as const,
      registers: [registry],
    }),
    malformedFrames: new Counter({
      name: 'classroom_edge_malformed_frames_total',
      help: 'Device frames that could not be decoded',
      labelNames: ['device'] as const,
      registers: [registry],
    }),
    deviceOnline: new Gauge({
      name: 'classroom_edge_device_online',
      help: '1 when the device is reachable, 0 otherwise',
      labelNames: ['device', 'driver'] as const,
      registers: [registry],
    }),
    deviceCommands: new Counter({
      name: 'classroom_edge_device_commands_total',
      help: 'Device commands by result',
      labelNames: ['device', 'command', 'result'] as const,
      registers: [registry],
    }),
    storeBytes: new Gauge({
      name: 'classroom_edge_store_bytes',
      help: 'Size of the SQLite store on disk (database + WAL)',
      registers: [registry],
    }),
    eventLogLastSeq: new Gauge({
      name: 'classroom_edge_event_log_last_seq',
      help: 'Highest committed event-log seq',
      registers: [registry],
    }),
    syncConnected: new Gauge({
      name: 'classroom_edge_sync_connected',
      help: '1 while the district link (cloud broker) is connected',
      registers: [registry],
    }),
    syncAckedSeq: new Gauge({
      name: 'classroom_edge_sync_acked_seq',
      help: 'Highest event-log seq acknowledged by the cloud',
      registers: [registry],
    }),
    syncBacklog: new Gauge({
      name: 'classroom_edge_sync_backlog_events',
      help: 'Committed events not yet acknowledged by the cloud',
      registers: [registry],
    }),
    syncBatches: new Counter({
      name: 'classroom_edge_sync_batches_total',
      help: 'Event batches published to the cloud (sent: first time, resent: after ack timeout or reconnect)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    syncErrors: new Counter({
      name: 'classroom_edge_sync_errors_total',
      help: 'District link failures (connection, publish, malformed or foreign acks, meta write)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    outboxDropped: new Counter({
      name: 'classroom_edge_outbox_dropped_total',
      help: 'Events of droppable streams (sensor) not logged for the district because the outbox was filling (edge/store/outbox.ts)',
      labelNames: ['stream'] as const,
      registers: [registry],
    }),
    outboxFill: new Gauge({
      name: 'classroom_edge_outbox_fill_ratio',
      help: 'Unacknowledged outbox size relative to its cap (max of events and payload bytes ratios)',
      registers: [registry],
    }),
    configPushes: new Counter({
      name: 'classroom_edge_config_pushes_total',
      help: 'Configuration pushes handled, by outcome (applied, unchanged, rolled-back, refused, interrupted)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    remoteCommands: new Counter({
      name: 'classroom_edge_remote_commands_total',
      help: "Technicians' remote commands from the district by command and status (ok, error, expired, rejected, duplicate)",
      labelNames: ['command', 'status'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
