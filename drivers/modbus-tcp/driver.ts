/**
 * Modbus TCP sensor driver (`modbus-tcp`).
 *
 * Follows the MODBUS Messaging on TCP/IP Implementation Guide V1.0b (MBAP
 * header §3.1.3, client transactions §4.4.1, unit identifier §4.4.1.2) and
 * the MODBUS Application Protocol Specification V1.1b3 (FC03/FC04 reads,
 * exception responses §7). MBAP framing is in ./mbap.ts, the transaction
 * handling in ./client.ts; PDUs, register maps, profiles, polling, readings
 * and reachability are the same as modbus-rtu's (drivers/modbus/).
 *
 * Several units behind one TCP-to-RTU gateway share one connection: the
 * supervisor gives their drivers the same transport and lock (`ctx.line`);
 * one transaction is in flight on the connection at a time.
 */
import { z } from 'zod';
import type { Capability } from '../capabilities.js';
import type { DriverContext, DriverDefinition } from '../contract.js';
import { Mutex } from '../util/mutex.js';
import {
  hasRegisterMap,
  hasRegisterMapMessage,
  ModbusSensorDriver,
  registerCapabilities,
  registerMapShape,
  uniqueMetrics,
  uniqueMetricsMessage,
} from '../modbus/poller.js';
import { MbapClient } from './client.js';

/** Unit id for a server connected directly to the network (Implementation Guide §4.4.1.2). */
export const DIRECT_UNIT_ID = 0xff;

export const modbusTcpOptionsSchema = z
  .object({
    /**
     * Unit identifier: the RTU address behind a gateway (1..247); 255 (the
     * default) for a device connected directly, as the guide asks; 0 is also
     * accepted by most direct devices.
     */
    unitId: z.number().int().min(0).max(255).default(DIRECT_UNIT_ID),
    /** Time to wait for a reply, per attempt. */
    timeoutMs: z.number().int().min(20).max(60_000).default(1000),
    ...registerMapShape,
    retries: z.number().int().min(0).max(10).default(1),
  })
  .strict()
  .refine(hasRegisterMap, hasRegisterMapMessage)
  .refine(uniqueMetrics, uniqueMetricsMessage);
export type ModbusTcpOptions = z.infer<typeof modbusTcpOptionsSchema>;

export function modbusTcpCapabilities(options: ModbusTcpOptions): Capability[] {
  return registerCapabilities(options);
}

export interface ModbusTcpDriverExtras {
  /** Lock shared by the drivers on one connection; default `ctx.line.lock`, else its own. */
  lock?: Mutex;
  /** False when the transport is shared and someone else stops it (default: not `ctx.line.shared`). */
  ownsTransport?: boolean;
  /** First MBAP transaction id (default random). */
  firstTransactionId?: number;
}

export class ModbusTcpDriver extends ModbusSensorDriver {
  constructor(ctx: DriverContext<ModbusTcpOptions>, extras: ModbusTcpDriverExtras = {}) {
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: modbus-tcp needs a byte transport (tcp)`);
    const transport = ctx.transport.transport;
    const options = ctx.options;
    const log = ctx.logger.child({ ns: 'drv:modbus-tcp', device: ctx.deviceId, unit: options.unitId });
    super({
      driver: 'modbus-tcp',
      device: ctx.deviceId,
      transport,
      options,
      clock: ctx.clock,
      log,
      ownsTransport: extras.ownsTransport ?? !(ctx.line?.shared ?? false),
      client: (onMalformed) =>
        new MbapClient({
          transport,
          device: ctx.deviceId,
          unitId: options.unitId,
          timeoutMs: options.timeoutMs,
          retries: options.retries,
          lock: extras.lock ?? ctx.line?.lock ?? new Mutex(),
          clock: ctx.clock,
          log,
          onMalformed,
          ...(extras.firstTransactionId !== undefined ? { firstTransactionId: extras.firstTransactionId } : {}),
        }),
    });
  }
}

export function createModbusTcpDriver(ctx: DriverContext<ModbusTcpOptions>, extras: ModbusTcpDriverExtras = {}): ModbusTcpDriver {
  return new ModbusTcpDriver(ctx, extras);
}

export const modbusTcpDriver: DriverDefinition<ModbusTcpOptions> = {
  driver: 'modbus-tcp',
  kinds: ['sensor'],
  transports: ['tcp', 'sim'],
  summary: 'Modbus TCP sensors and gateways, FC03/FC04 polling (Modbus Messaging on TCP/IP Implementation Guide V1.0b, Modbus Application Protocol V1.1b3)',
  multidrop: true,
  optionsSchema: modbusTcpOptionsSchema,
  capabilities: (options) => modbusTcpCapabilities(options),
  create: (ctx) => new ModbusTcpDriver(ctx),
};
