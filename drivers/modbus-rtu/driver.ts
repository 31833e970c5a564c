/**
 * Modbus RTU sensor driver (`modbus-rtu`).
 *
 * Follows the MODBUS Application Protocol Specification V1.1b3 (FC03/FC04
 * reads, exception responses §7) and MODBUS over Serial Line Specification
 * V1.02 (RTU framing, t3.5 silence, CRC-16). Bytes are framed by
 * drivers/modbus/framer.ts, encoded by drivers/modbus/codec.ts, exchanged by
 * drivers/modbus/rtu-client.ts (line lock, t3.5, retries after timeouts),
 * decoded into engineering values by drivers/modbus/registers.ts; polling,
 * readings and reachability are shared with modbus-tcp in
 * drivers/modbus/poller.ts.
 *
 * Several units may share one RS-485 line: give their drivers the same
 * transport and the same lock (`ctx.line`, or createModbusRtuDriver's
 * extras); each driver only parses bytes while its own request is in flight.
 */
import { z } from 'zod';
import type { Capability } from '../capabilities.js';
import type { DriverContext, DriverDefinition } from '../contract.js';
import { Mutex } from '../util/mutex.js';
import { rtuSilenceMs } from '../modbus/framer.js';
import { baudFromDescription, RtuClient } from '../modbus/rtu-client.js';
import {
  hasRegisterMap,
  hasRegisterMapMessage,
  ModbusSensorDriver,
  registerCapabilities,
  registerMapShape,
  resolveRegisters as resolveRegisterMap,
  uniqueMetrics,
  uniqueMetricsMessage,
} from '../modbus/poller.js';
import type { RegisterSpec } from '../modbus/registers.js';

export const modbusRtuOptionsSchema = z
  .object({
    /** Server (slave) address on the line, 1..247. */
    unitId: z.number().int().min(1).max(247),
    /** Time to wait for a reply, per attempt. */
    timeoutMs: z.number().int().min(20).max(60_000).default(500),
    ...registerMapShape,
    /** Line speed, used only for the t3.5 silence; default: taken from the transport description, else 9600. */
    baudRate: z.number().int().min(300).max(4_000_000).optional(),
    /** Override the inter-frame silence (ms) instead of t3.5 at baudRate. */
    interFrameMs: z.number().positive().max(1000).optional(),
  })
  .strict()
  .refine(hasRegisterMap, hasRegisterMapMessage)
  .refine(uniqueMetrics, uniqueMetricsMessage);
export type ModbusRtuOptions = z.infer<typeof modbusRtuOptionsSchema>;

/** The register list an options object stands for: profile first, explicit registers override by metric. */
export function resolveRegisters(options: Pick<ModbusRtuOptions, 'profile' | 'registers'>): RegisterSpec[] {
  return resolveRegisterMap(options);
}

export function modbusRtuCapabilities(options: ModbusRtuOptions): Capability[] {
  return registerCapabilities(options);
}

export interface ModbusRtuDriverExtras {
  /** Lock shared by all drivers on one RS-485 line; default: `ctx.line.lock`, else a lock of its own. */
  busLock?: Mutex;
  /** False when the transport is shared and someone else stops it (default: not `ctx.line.shared`). */
  ownsTransport?: boolean;
}

export class ModbusRtuDriver extends ModbusSensorDriver {
  constructor(ctx: DriverContext<ModbusRtuOptions>, extras: ModbusRtuDriverExtras = {}) {
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: modbus-rtu needs a byte transport (serial)`);
    const transport = ctx.transport.transport;
    const options = ctx.options;
    const log = ctx.logger.child({ ns: 'drv:modbus', device: ctx.deviceId, unit: options.unitId });
    const baud = options.baudRate ?? baudFromDescription(transport.description) ?? 9600;
    super({
      driver: 'modbus-rtu',
      device: ctx.deviceId,
      transport,
      options,
      clock: ctx.clock,
      log,
      ownsTransport: extras.ownsTransport ?? !(ctx.line?.shared ?? false),
      client: (onMalformed) =>
        new RtuClient({
          transport,
          device: ctx.deviceId,
          unitId: options.unitId,
          timeoutMs: options.timeoutMs,
          retries: options.retries,
          lock: extras.busLock ?? ctx.line?.lock ?? new Mutex(),
          clock: ctx.clock,
          log,
          silenceMs: options.interFrameMs ?? rtuSilenceMs(baud),
          onMalformed,
        }),
    });
  }
}

export function createModbusRtuDriver(ctx: DriverContext<ModbusRtuOptions>, extras: ModbusRtuDriverExtras = {}): ModbusRtuDriver {
  return new ModbusRtuDriver(ctx, extras);
}

export const modbusRtuDriver: DriverDefinition<ModbusRtuOptions> = {
  driver: 'modbus-rtu',
  kinds: ['sensor'],
  transports: ['serial', 'sim'],
  summary: 'Modbus RTU sensors, FC03/FC04 polling (Modbus Application Protocol V1.1b3, Modbus over Serial Line V1.02)',
  multidrop: true,
  optionsSchema: modbusRtuOptionsSchema,
  capabilities: (options) => modbusRtuCapabilities(options),
  create: (ctx) => new ModbusRtuDriver(ctx),
};
