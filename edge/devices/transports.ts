/**
 * Builds the transport of a configured device. `sim` transports are an
 * in-memory pair with the driver's device-side simulator on the far end, so
 * the demo room runs the real drivers over their real byte protocols.
 */
import type { TransportHandle } from '../../drivers/contract.js';
import { createMemoryPair } from '../../drivers/transports/memory.js';
import { SerialTransport } from '../../drivers/transports/serial.js';
import { TcpTransport } from '../../drivers/transports/tcp.js';
import type { GpioBackend } from '../../drivers/transports/gpio.js';
import { FakeGpioBackend } from '../../drivers/transports/gpio-fake.js';
import { OnoffGpioBackend } from '../../drivers/transports/gpio-onoff.js';
import { createSimulator, type Simulator } from '../../drivers/sim/index.js';
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

function gpioBackend(name: 'auto' | 'onoff' | 'fake', deps: TransportDeps): GpioBackend {
  const key = name === 'auto' ? 'onoff' : name;
  let backend = deps.gpio.get(key);
  if (!backend) {
    backend = key === 'fake' ? new FakeGpioBackend() : new OnoffGpioBackend();
    deps.gpio.set(key, backend);
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
      throw new Error(`device ${dev.id}: udp transport is not available in this build`);
    case 'gpio':
      return { handle: { type: 'gpio', backend: gpioBackend(t.backend, deps), chip: t.chip, line: t.line } };
    case 'sim': {
      const [host, device] = createMemoryPair(`sim:${dev.id}`);
      const simulator = createSimulator(dev.driver, device, { settings: t.settings, options: dev.options });
      return { handle: { type: 'bytes', transport: host }, simulator };
    }
  }
}
