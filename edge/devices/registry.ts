/**
 * Driver registry: config `driver` name -> definition (shared/STYLE.md pattern 1).
 */
import type { AnyDriverDefinition, DriverDefinition } from '../../drivers/contract.js';
import { em4100Driver } from '../../drivers/em4100/driver.js';
import { modbusRtuDriver } from '../../drivers/modbus-rtu/driver.js';
import { samsungMdcDriver } from '../../drivers/samsung-mdc/driver.js';
import { pjlinkDriver } from '../../drivers/pjlink/driver.js';
import { lgDriver } from '../../drivers/lg/driver.js';
import { hitevisionDriver } from '../../drivers/hitevision/driver.js';
import { profileDriver } from '../../drivers/profile/driver.js';
import { necDriver } from '../../drivers/nec/driver.js';
import { sharpDriver } from '../../drivers/sharp/driver.js';
import { viscaDriver } from '../../drivers/visca/driver.js';
import { viscaIpDriver } from '../../drivers/visca/ip-driver.js';
import { pelcoDDriver } from '../../drivers/pelco-d/driver.js';
import { modbusTcpDriver } from '../../drivers/modbus-tcp/driver.js';
import { modbusRelayDriver } from '../../drivers/modbus-relay/driver.js';
import { gpioRelayDriver } from '../../drivers/gpio-relay/driver.js';
import { gpioInputDriver } from '../../drivers/gpio-input/driver.js';
import { uidReaderDriver } from '../../drivers/uid-reader/driver.js';
import { wiegandDriver } from '../../drivers/wiegand/driver.js';

export class DriverRegistry {
  private readonly defs = new Map<string, AnyDriverDefinition>();

  register<O>(def: DriverDefinition<O>): this {
    if (this.defs.has(def.driver)) throw new Error(`driver "${def.driver}" registered twice`);
    this.defs.set(def.driver, def as AnyDriverDefinition);
    return this;
  }

  get(name: string): AnyDriverDefinition | undefined {
    return this.defs.get(name);
  }

  names(): string[] {
    return [...this.defs.keys()].sort();
  }

  all(): AnyDriverDefinition[] {
    return [...this.defs.values()];
  }
}

/** The registry of every driver this build ships. */
export function builtinDrivers(): DriverRegistry {
  const all: AnyDriverDefinition[] = [
    // displays and panels
    samsungMdcDriver,
    lgDriver,
    hitevisionDriver,
    profileDriver,
    necDriver,
    sharpDriver,
    // projectors
    pjlinkDriver,
    // cameras
    viscaDriver,
    viscaIpDriver,
    pelcoDDriver,
    // sensors and inputs
    modbusRtuDriver,
    modbusTcpDriver,
    gpioInputDriver,
    // card readers
    em4100Driver,
    uidReaderDriver,
    wiegandDriver,
    // relays
    modbusRelayDriver,
    gpioRelayDriver,
  ];
  const registry = new DriverRegistry();
  for (const def of all) registry.register(def);
  return registry;
}
