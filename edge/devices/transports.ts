/**
 * Builds the transport of a configured device. `sim` transports are an
 * in-memory pair with the driver's device-side simulator on the far end, so
 * the demo room runs the real drivers over their real byte protocols.
 */
import type { TransportHandle } from '../../drivers/contract.js';
import { createMemoryPair } from '../../drivers/transports/memory.js';
import { SerialTransport } from '../../drivers/transports/serial.js';
import { TcpTransport } from '../../drivers/transports/tcp.js';
import { UdpTransport } from '../../drivers/transports/udp.js';
import type { GpioBackend } from '../../drivers/transports/gpio.js';
import { FakeGpioBackend } from '../../drivers/transports/gpio-fake.js';
import { OnoffGpioBackend } from '../../drivers/transports/gpio-onoff.js';
import { ChardevGpioBackend } from '../../drivers/transports/gpio-chardev.js';
import { autoGpioBackend } from '../../drivers/transports/gpio-auto.js';
import { createGpioSimulator, createSimulator, type Simulator } from '../../drivers/sim/index.js';
import type { DeviceConfig } from '../config/schema.js';
import type { Logger } from '../util/logger.js';

export interface BuiltTransport {
  handle: TransportHandle;
  /** The simulator on the far end, for `sim` transports. */
  simulator?: Simulator;
}

export interface TransportDeps {
  logger: Logger;
  /** Shared GPIO backends by name, created on first use. */
  gpio: Map<string, GpioBackend>;
}

/** One backend instance per kind, shared by every GPIO device (lines of one chip are opened through it). */
function gpioBackend(name: 'auto' | 'chardev' | 'onoff' | 'fake', deps: TransportDeps): GpioBackend {
  let backend = deps.gpio.get(name);
  if (!backend) {
    const logger = deps.logger.child({ ns: 'drv:gpio' });
    switch (name) {
      case 'auto':
        backend = autoGpioBackend({ logger });
        break;
      case 'chardev':
        backend = new ChardevGpioBackend({ logger });
        break;
      case 'onoff':
        backend = new OnoffGpioBackend({ logger });
        break;
      case 'fake':
        backend = new FakeGpioBackend();
        break;
    }
    deps.gpio.set(name, backend);
  }
  return backend;
}

/**
 * Key of the physical line a device uses: devices with the same key share
 * one transport (and one lock). Sim, GPIO and UDP devices never share.
 */
export function lineKey(dev: DeviceConfig): string | undefined {
  const t = dev.transport;
  if (t.type === 'serial') return `serial:${t.path}`;
  if (t.type === 'tcp') return `tcp:${t.host}:${t.port}`;
  return undefined;
}

export function buildTransport(dev: DeviceConfig, deps: TransportDeps): BuiltTransport {
  const t = dev.transport;
  const logger = deps.logger.child({ device: dev.id });
  switch (t.type) {
    case 'serial':
      return {
        handle: {
          type: 'bytes',
          transport: new SerialTransport({
            path: t.path,
            baudRate: t.baudRate,
            dataBits: t.dataBits,
            parity: t.parity,
            stopBits: t.stopBits,
            logger,
          }),
        },
      };
    case 'tcp':
      return { handle: { type: 'bytes', transport: new TcpTransport({ host: t.host, port: t.port, logger }) } };
    case 'udp':
      return { handle: { type: 'bytes', transport: new UdpTransport({ host: t.host, port: t.port, bindPort: t.bindPort, logger }) } };
    case 'gpio': {
      const backend = gpioBackend(t.backend, deps);
      // On the fake backend (demo room, tests) a device simulator drives the lines, where the driver has one.
      const simulator =
        backend instanceof FakeGpioBackend
          ? createGpioSimulator(dev.driver, backend, { chip: t.chip, line: t.line, settings: {}, options: dev.options })
          : undefined;
      return { handle: { type: 'gpio', backend, chip: t.chip, line: t.line }, ...(simulator ? { simulator } : {}) };
    }
    case 'sim': {
      const [host, device] = createMemoryPair(`sim:${dev.id}`);
      const simulator = createSimulator(dev.driver, device, { settings: t.settings, options: dev.options });
      return { handle: { type: 'bytes', transport: host }, simulator };
    }
  }
}
