/**
 * Reading a register map, one poll at a time, around the entries the unit
 * refuses.
 *
 * Registers are read in grouped blocks (registers.ts, planReads). A unit
 * answers a read that touches an address it does not have with an exception
 * (Application Protocol V1.1b3 §7, code 02 ILLEGAL DATA ADDRESS), and the
 * whole block is lost with it. So a refused block is retried entry by entry
 * (each map entry alone) in the same poll: the good entries keep their
 * values, the refused ones become "metric errors". Later polls read around
 * them (planReads over the good entries only, which never bridges a gap) and
 * try each refused entry alone again every `retryRefusedMs`, so a sensor
 * that is fixed or replaced recovers by itself; `refresh` (a technician's
 * explicit read) retries them at once.
 *
 * A block that gets no reply at all (timeout, link down, gateway exceptions
 * 0A/0B) says nothing about an address: it is not split, and counts towards
 * reachability as before.
 */
import type { DriverEmitter, StatePatch } from '../contract.js';
import { DeviceError, DeviceTimeoutError } from '../errors.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import type { ModbusClient } from './client.js';
import { exceptionSpecName, hexAddress, ModbusExceptionError, type ReadRequest } from './codec.js';
import { decodeRegister, planReads, registerCount, type ReadBlock, type RegisterSpec } from './registers.js';

/** One map entry that the unit refuses, as reported in `metricErrors`. */
export interface MetricError {
  /** The register address, hex as in vendor manuals: '0x0100'. */
  address: string;
  /** The read function: 3 holding registers, 4 input registers. */
  function: 3 | 4;
  /** The exception code the unit answered (§7). */
  exception: number;
  /** The code's name in the spec's §7 table: 'ILLEGAL DATA ADDRESS'. */
  name: string;
  /** Wall-clock ms of the first refusal. */
  since: number;
  /** Refused reads of this entry since `since`. */
  failures: number;
  /** The whole story in one line: device, metric, address, function and exception. */
  message: string;
}

/**
 * The state key that carries a metric's error. Device state is flat
 * (string | number | boolean | null values), so each failing metric gets its
 * own key; ':' cannot occur in a metric name, so it never clashes with one.
 * The value is null once the metric answers again.
 */
export const metricErrorKey = (metric: string): string => `error:${metric}`;

/** The state value under metricErrorKey: '0x0100 FC04: exception 02 ILLEGAL DATA ADDRESS since 2026-...Z'. */
export function metricErrorText(e: Pick<MetricError, 'address' | 'function' | 'exception' | 'name' | 'since'>): string {
  const code = e.exception.toString(16).toUpperCase().padStart(2, '0');
  return `${e.address} FC0${e.function}: exception ${code} ${e.name} since ${new Date(e.since).toISOString()}`;
}

/**
 * Exceptions 0A/0B come from a gateway whose target unit did not answer
 * (Application Protocol §7): the unit is as unreachable as after a timeout.
 */
export function isGatewayFailure(e: unknown): boolean {
  return e instanceof ModbusExceptionError && (e.exceptionCode === 0x0a || e.exceptionCode === 0x0b);
}

/** The unit itself answered and refused the read. */
const isRefusal = (e: unknown): e is ModbusExceptionError => e instanceof ModbusExceptionError && !isGatewayFailure(e);

/** What the reader needs to know about reachability (poller.ts, Reachability). */
export interface ReachabilitySink {
  success(): void;
  failure(reason: string): void;
}

export interface RegisterReaderDeps {
  device: string;
  client: ModbusClient;
  specs: readonly RegisterSpec[];
  emitter: DriverEmitter;
  reachability: ReachabilitySink;
  clock: Clock;
  log: Logger;
  /** How often a refused entry is tried alone again during polls. */
  retryRefusedMs: number;
}

interface Fault {
  spec: RegisterSpec;
  error: MetricError;
  /** Monotonic ms of the last attempt. */
  lastTry: number;
}

/** The results of one poll or refresh. */
interface Run {
  command: string;
  values: StatePatch;
  patch: StatePatch;
  answered: boolean;
  firstError: unknown;
}

type Outcome = 'read' | 'refused' | 'lost';

const aloneRequest = (spec: RegisterSpec): ReadRequest => ({ fc: spec.function, address: spec.address, quantity: registerCount(spec.type) });
const blockKey = (r: ReadRequest): string => `${r.fc}:${r.address}:${r.quantity}`;

export class RegisterReader {
  private readonly d: RegisterReaderDeps;
  private readonly faults = new Map<string, Fault>();
  /** Blocks the unit refuses as a whole while it answers each entry alone (e.g. a shorter read limit). */
  private readonly split = new Set<string>();
  private plan: ReadBlock[];
  /** The set of refused entries changed: plan the blocks around them again after this poll. */
  private replan = false;

  constructor(deps: RegisterReaderDeps) {
    this.d = deps;
    this.plan = planReads(deps.specs);
  }

  /** The block reads a poll makes now (refused entries left out). */
  get readPlan(): readonly ReadBlock[] {
    return this.plan;
  }

  /** The refused entries by metric (a copy). */
  get metricErrors(): Record<string, MetricError> {
    const out: Record<string, MetricError> = {};
    for (const [metric, f] of this.faults) out[metric] = { ...f.error };
    return out;
  }

  /**
   * One poll (command 'poll') or refresh: emits a reading per value read and
   * one state patch (values, and metric errors that started or ended).
   * Resolves with the values read; rejects only when nothing could be read.
   */
  async read(command: string): Promise<StatePatch> {
    const run: Run = { command, values: {}, patch: {}, answered: false, firstError: undefined };
    const now = this.d.clock.monotonic();
    for (const fault of [...this.faults.values()]) {
      if (command === 'poll' && now - fault.lastTry < this.d.retryRefusedMs) continue;
      if ((await this.readAlone(fault.spec, run)) === 'lost') break;
    }
    for (const block of this.plan) await this.readBlock(block, run);
    if (this.replan) {
      this.replan = false;
      this.plan = planReads(this.d.specs.filter((s) => !this.faults.has(s.metric)));
    }

    const { firstError } = run;
    if (run.answered) this.d.reachability.success();
    else if (firstError instanceof DeviceTimeoutError || isGatewayFailure(firstError)) this.d.reachability.failure((firstError as Error).message);
    if (Object.keys(run.patch).length > 0) this.d.emitter.emit('state', run.patch);
    if (Object.keys(run.values).length === 0 && firstError !== undefined) throw firstError;
    return run.values;
  }

  private async readBlock(block: ReadBlock, run: Run): Promise<void> {
    if (this.split.has(blockKey(block.request))) {
      await this.isolate(block, run);
      return;
    }
    try {
      const res = await this.d.client.request(run.command, block.request);
      run.answered = true;
      if (res.fc !== 3 && res.fc !== 4) throw new DeviceError('protocol', this.d.device, run.command, 'read answered by another function');
      for (const { spec, index } of block.items) this.store(spec, res.registers.slice(index, index + registerCount(spec.type)), run);
    } catch (e) {
      if (!isRefusal(e)) {
        run.firstError ??= e;
        return;
      }
      run.answered = true;
      if (block.items.length === 1 && block.items[0]) {
        this.refused(block.items[0].spec, e, run);
        return;
      }
      const r = block.request;
      this.d.log.debug({ fc: r.fc, address: hexAddress(r.address), quantity: r.quantity, exception: e.exceptionCode }, 'block read refused: reading its entries one by one');
      const outcomes = await this.isolate(block, run);
      const aboutTheRequest = e.exceptionCode === 0x02 || e.exceptionCode === 0x03;
      if (aboutTheRequest && outcomes.length === block.items.length && outcomes.every((o) => o === 'read')) {
        // Every entry answers alone and the unit called the block's range or size illegal: it refuses the block itself
        // (e.g. it reads fewer registers at once than §6.3/§6.4 allow). Passing codes (04 failure, 06 busy) are not remembered.
        this.split.add(blockKey(r));
        this.d.log.warn(
          { fc: r.fc, address: hexAddress(r.address), quantity: r.quantity, exception: e.exceptionCode, exceptionName: exceptionSpecName(e.exceptionCode) },
          `${this.d.device}: unit refuses the block read FC0${r.fc} ${hexAddress(r.address)} x${r.quantity} (${exceptionSpecName(e.exceptionCode)}) but answers each register alone: reading them one by one`,
        );
      }
    }
  }

  /** Read each entry of a block alone; stops at the first read that got no answer. */
  private async isolate(block: ReadBlock, run: Run): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const { spec } of block.items) {
      const outcome = await this.readAlone(spec, run);
      outcomes.push(outcome);
      if (outcome === 'lost') break;
    }
    return outcomes;
  }

  private async readAlone(spec: RegisterSpec, run: Run): Promise<Outcome> {
    const fault = this.faults.get(spec.metric);
    if (fault) fault.lastTry = this.d.clock.monotonic();
    try {
      const res = await this.d.client.request(run.command, aloneRequest(spec));
      run.answered = true;
      if (res.fc !== 3 && res.fc !== 4) throw new DeviceError('protocol', this.d.device, run.command, 'read answered by another function');
      this.store(spec, res.registers, run);
      if (fault) this.recovered(fault, run);
      return 'read';
    } catch (e) {
      if (isRefusal(e)) {
        run.answered = true;
        this.refused(spec, e, run);
        return 'refused';
      }
      run.firstError ??= e;
      return 'lost';
    }
  }

  private store(spec: RegisterSpec, words: readonly number[], run: Run): void {
    const value = decodeRegister(spec, words);
    run.values[spec.metric] = value;
    run.patch[spec.metric] = value;
    this.d.emitter.emit('reading', { metric: spec.metric, value, unit: spec.unit, ts: this.d.clock.now() });
  }

  private refused(spec: RegisterSpec, e: ModbusExceptionError, run: Run): void {
    const address = hexAddress(spec.address);
    const name = exceptionSpecName(e.exceptionCode);
    const err = new ModbusExceptionError(this.d.device, run.command, spec.function, e.exceptionCode, `reading "${spec.metric}" at ${address}`);
    run.firstError ??= err;
    this.d.emitter.emit('metricError', spec.metric);
    const known = this.faults.get(spec.metric);
    if (known && known.error.exception === e.exceptionCode) {
      known.error.failures++;
      this.d.log.debug({ metric: spec.metric, address, exception: e.exceptionCode }, 'metric still refused');
      return;
    }
    const error: MetricError = {
      address,
      function: spec.function,
      exception: e.exceptionCode,
      name,
      since: known?.error.since ?? this.d.clock.now(),
      failures: (known?.error.failures ?? 0) + 1,
      message: err.message,
    };
    this.faults.set(spec.metric, { spec, error, lastTry: this.d.clock.monotonic() });
    this.replan = true;
    run.patch[spec.metric] = null;
    run.patch[metricErrorKey(spec.metric)] = metricErrorText(error);
    // The device's lastError names the refused metric (the supervisor listens to fault events).
    this.d.emitter.emit('fault', err);
    const code = e.exceptionCode.toString(16).toUpperCase().padStart(2, '0');
    this.d.log.warn(
      { metric: spec.metric, address, function: spec.function, exception: e.exceptionCode, exceptionName: name },
      `${this.d.device}: metric "${spec.metric}" (FC0${spec.function} ${address}) refused: exception ${code} ${name}; ` +
        `reading the other registers around it, retrying it alone every ${Math.round(this.d.retryRefusedMs / 1000)} s`,
    );
  }

  private recovered(fault: Fault, run: Run): void {
    const { spec, error } = fault;
    this.faults.delete(spec.metric);
    this.replan = true;
    run.patch[metricErrorKey(spec.metric)] = null;
    if (this.faults.size === 0) this.d.emitter.emit('fault', null);
    this.d.log.info(
      { metric: spec.metric, address: error.address, function: spec.function, failedForMs: this.d.clock.now() - error.since, failures: error.failures },
      `${this.d.device}: metric "${spec.metric}" (FC0${spec.function} ${error.address}) answers again`,
    );
  }
}
