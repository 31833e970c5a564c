/**
 * In-memory GpioBackend for logic tests and the demo room (no GPIO hardware
 * exists on the development machines; see shared/PROTOCOLS.md).
 *
 * Levels are *electrical* (what a scope on the pin would show), like the
 * kernel's raw values; an input or output opened with `activeLow` reports and
 * takes inverted *logical* values, as the kernel does.
 * - `replay(chip, line, edges)` drives an input: each edge sets the line's
 *   level and is delivered synchronously, in order, to listeners of every
 *   input open on that line whose edge setting matches the logical value
 *   (rising = logical 1, falling = logical 0, both, none). An edge that does
 *   not change the level is dropped, as hardware reports no edge then.
 *   `debounceMs` drops an edge that follows the previous delivered edge by
 *   less than that many ms of `tsNs` (a simplification of onoff's debounce).
 * - `writes(chip, line)` returns what outputs wrote: logical value, electrical
 *   level and timestamp (from the injectable `nowNs`).
 * - `failOpen(chip, line, error)` makes opening that line fail (missing chip,
 *   permission problem).
 */
import type { Edge, GpioBackend, GpioEdgeEvent, GpioInput, GpioOutput } from './gpio.js';

export interface FakeEdge {
  /** Electrical level after the edge. */
  value: 0 | 1;
  tsNs: bigint;
}

export interface FakeWrite {
  /** Logical value written by the driver. */
  value: 0 | 1;
  /** Electrical level that results (inverted when activeLow). */
  level: 0 | 1;
  tsNs: bigint;
}

interface InputState {
  edge: Edge;
  activeLow: boolean;
  debounceNs: bigint;
  lastDeliveredNs: bigint | undefined;
  listeners: ((e: GpioEdgeEvent) => void)[];
}

const key = (chip: string, line: number): string => `${chip}:${line}`;
const invert = (v: 0 | 1, activeLow: boolean): 0 | 1 => (activeLow ? (v === 1 ? 0 : 1) : v);

export class FakeGpioBackend implements GpioBackend {
  readonly name = 'fake';
  private readonly nowNs: () => bigint;
  private readonly levels = new Map<string, 0 | 1>();
  private readonly inputs = new Map<string, Set<InputState>>();
  private readonly outputsOpen = new Set<string>();
  private readonly written = new Map<string, FakeWrite[]>();
  private readonly failures = new Map<string, Error>();

  constructor(opts: { nowNs?: () => bigint } = {}) {
    this.nowNs = opts.nowNs ?? (() => process.hrtime.bigint());
  }

  async openInput(
    chip: string,
    line: number,
    edge: Edge,
    opts: { activeLow?: boolean; debounceMs?: number } = {},
  ): Promise<GpioInput> {
    const k = key(chip, line);
    this.checkOpen(k);
    if (this.outputsOpen.has(k)) throw new Error(`fake gpio ${k}: line busy (open as output)`);
    const state: InputState = {
      edge,
      activeLow: opts.activeLow ?? false,
      debounceNs: BigInt(Math.round((opts.debounceMs ?? 0) * 1e6)),
      lastDeliveredNs: undefined,
      listeners: [],
    };
    let set = this.inputs.get(k);
    if (!set) this.inputs.set(k, (set = new Set()));
    set.add(state);
    let closed = false;
    return {
      read: async () => {
        if (closed) throw new Error(`fake gpio ${k}: input closed`);
        return invert(this.level(chip, line), state.activeLow);
      },
      onEdge: (listener) => {
        state.listeners.push(listener);
      },
      close: async () => {
        closed = true;
        state.listeners = [];
        this.inputs.get(k)?.delete(state);
      },
    };
  }

  async openOutput(chip: string, line: number, opts: { activeLow?: boolean; initial?: 0 | 1 } = {}): Promise<GpioOutput> {
    const k = key(chip, line);
    this.checkOpen(k);
    if (this.outputsOpen.has(k) || (this.inputs.get(k)?.size ?? 0) > 0) {
      throw new Error(`fake gpio ${k}: line busy`);
    }
    this.outputsOpen.add(k);
    const activeLow = opts.activeLow ?? false;
    let closed = false;
    const write = (value: 0 | 1): void => {
      const level = invert(value, activeLow);
      this.levels.set(k, level);
      let list = this.written.get(k);
      if (!list) this.written.set(k, (list = []));
      list.push({ value, level, tsNs: this.nowNs() });
    };
    write(opts.initial ?? 0);
    return {
      write: async (value) => {
        if (closed) throw new Error(`fake gpio ${k}: output closed`);
        write(value);
      },
      read: async () => {
        if (closed) throw new Error(`fake gpio ${k}: output closed`);
        return invert(this.level(chip, line), activeLow);
      },
      close: async () => {
        closed = true;
        this.outputsOpen.delete(k);
      },
    };
  }

  /** Drive an input line through timestamped electrical edges (see header). */
  replay(chip: string, line: number, edges: readonly FakeEdge[]): void {
    const k = key(chip, line);
    for (const e of edges) {
      if (this.level(chip, line) === e.value) continue;
      this.levels.set(k, e.value);
      for (const input of [...(this.inputs.get(k) ?? [])]) {
        const logical = invert(e.value, input.activeLow);
        const wanted =
          input.edge === 'both' ||
          (input.edge === 'rising' && logical === 1) ||
          (input.edge === 'falling' && logical === 0);
        if (!wanted) continue;
        if (input.lastDeliveredNs !== undefined && e.tsNs - input.lastDeliveredNs < input.debounceNs) continue;
        input.lastDeliveredNs = e.tsNs;
        for (const l of [...input.listeners]) l({ value: logical, tsNs: e.tsNs });
      }
    }
  }

  /** Set a line's electrical level without delivering an edge (e.g. idle-high Wiegand lines). */
  setLevel(chip: string, line: number, level: 0 | 1): void {
    this.levels.set(key(chip, line), level);
  }

  /** Current electrical level of a line (0 until driven). */
  level(chip: string, line: number): 0 | 1 {
    return this.levels.get(key(chip, line)) ?? 0;
  }

  /** Everything outputs wrote on that line, oldest first. */
  writes(chip: string, line: number): FakeWrite[] {
    return [...(this.written.get(key(chip, line)) ?? [])];
  }

  /** Make opening that line fail with `error` (pass undefined to clear). */
  failOpen(chip: string, line: number, error: Error | undefined): void {
    if (error) this.failures.set(key(chip, line), error);
    else this.failures.delete(key(chip, line));
  }

  private checkOpen(k: string): void {
    const failure = this.failures.get(k);
    if (failure) throw failure;
  }
}
