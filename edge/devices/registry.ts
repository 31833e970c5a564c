/**
 * Driver registry: config `driver` name -> definition (shared/STYLE.md pattern 1).
 */
import type { AnyDriverDefinition, DriverDefinition } from '../../drivers/contract.js';
import { em4100Driver } from '../../drivers/em4100/driver.js';
import { modbusRtuDriver } from '../../drivers/modbus-rtu/driver.js';
import { samsungMdcDriver } from '../../drivers/samsung-mdc/driver.js';
import { pjlinkDriver } from '../../drivers/pjlink/driver.js';

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
  return new DriverRegistry()
    .register(samsungMdcDriver)
    .register(modbusRtuDriver)
    .register(em4100Driver)
    .register(pjlinkDriver);
}
