/**
 * Simulator registry for `transport: { type: sim }` devices (the demo room):
 * driver name -> a device-side simulator on the far end of an in-memory pair.
 * Each simulator speaks its device's real byte protocol, so the real driver
 * runs unchanged. `actions` are what the demo/test API may do to the device
 * (present a card, cut its power, ...).
 */
import type { ByteTransport } from '../transports/types.js';
import type { FakeGpioBackend } from '../transports/gpio-fake.js';
import { em4100, modbusRtu, pjlink, samsungMdc } from './factories-core.js';
import { hitevision, lg, nec, panelProfile, sharp, uidReader } from './factories-displays.js';
import { pelcoD, visca, viscaIp } from './factories-cameras.js';
import { createModbusRelaySimulator } from './modbus-relay.js';
import { createModbusTcpSimulator } from './modbus-tcp.js';
import { gpioInput, wiegand, type GpioSimInput } from './factories-gpio.js';

export type SimAction = (args: Record<string, unknown>) => void | Promise<void>;

export interface Simulator {
  readonly model: string;
  readonly actions: Record<string, SimAction>;
  /** Begin background behaviour (sensor drift, ...). */
  start(): void;
  stop(): Promise<void>;
}

export interface SimInput {
  /** `transport.settings` from config. */
  settings: Record<string, unknown>;
  /** The device's driver options (already valid for its driver). */
  options: Record<string, unknown>;
}

const SIMULATORS: Record<string, (end: ByteTransport, input: SimInput) => Simulator> = {
  pjlink,
  lg,
  'hitevision-ifp': hitevision,
  'panel-profile': panelProfile,
  nec,
  'sharp-pn': sharp,
  visca,
  'visca-ip': viscaIp,
  'pelco-d': pelcoD,
  'uid-reader': uidReader,
  'modbus-tcp': createModbusTcpSimulator,
  'modbus-relay': createModbusRelaySimulator,
  em4100,
  'samsung-mdc': samsungMdc,
  'modbus-rtu': modbusRtu,
};

export function simulatedDrivers(): string[] {
  return Object.keys(SIMULATORS).sort();
}

export function createSimulator(driver: string, end: ByteTransport, input: SimInput): Simulator {
  const make = SIMULATORS[driver];
  if (!make) throw new Error(`no simulator for driver "${driver}"; simulated drivers: ${simulatedDrivers().join(', ')}`);
  return make(end, input);
}

/** Simulators of GPIO devices, driving lines of the fake GPIO backend (`transport: { type: gpio, backend: fake }`). */
const GPIO_SIMULATORS: Record<string, (gpio: FakeGpioBackend, input: GpioSimInput) => Simulator> = {
  wiegand,
  'gpio-input': gpioInput,
};

export function createGpioSimulator(driver: string, gpio: FakeGpioBackend, input: GpioSimInput): Simulator | undefined {
  return GPIO_SIMULATORS[driver]?.(gpio, input);
}
