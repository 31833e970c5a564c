/**
 * GPIO behind a small interface (shared/STYLE.md pattern 5), so drivers are
 * tested with a fake that replays timestamped edges. Implementations:
 * - onoff (sysfs ABI): drivers/transports/gpio-onoff.ts
 * - fake: drivers/transports/gpio-fake.ts
 * - character device (gpiod tools): drivers/transports/gpio-chardev.ts
 */
export type Edge = 'rising' | 'falling' | 'both' | 'none';

export interface GpioEdgeEvent {
  /** 0 or 1 after the edge. */
  value: 0 | 1;
  /** Timestamp in nanoseconds (kernel timestamp where the backend has one). */
  tsNs: bigint;
}

export interface GpioInput {
  read(): Promise<0 | 1>;
  onEdge(listener: (e: GpioEdgeEvent) => void): void;
  close(): Promise<void>;
}

/** An edge on one line of a group. */
export interface GpioLineEvent extends GpioEdgeEvent {
  line: number;
}

/**
 * Several input lines watched together, their edges delivered in the order
 * the kernel stamped them (one event queue). Protocols that spread one signal
 * over two lines (Wiegand D0/D1) need this: two independent watchers can
 * deliver the lines' edges skewed by whole scheduling slices.
 */
export interface GpioInputGroup {
  readonly lines: readonly number[];
  read(line: number): Promise<0 | 1>;
  onEdge(listener: (e: GpioLineEvent) => void): void;
  close(): Promise<void>;
}

export interface GpioOutput {
  write(value: 0 | 1): Promise<void>;
  read(): Promise<0 | 1>;
  close(): Promise<void>;
}

export interface GpioBackend {
  readonly name: string;
  openInput(chip: string, line: number, edge: Edge, opts?: { activeLow?: boolean; debounceMs?: number }): Promise<GpioInput>;
  openOutput(chip: string, line: number, opts?: { activeLow?: boolean; initial?: 0 | 1 }): Promise<GpioOutput>;
  /** Optional: lines watched by one ordered event stream (see GpioInputGroup). */
  openInputGroup?(chip: string, lines: readonly number[], edge: Edge, opts?: { activeLow?: boolean }): Promise<GpioInputGroup>;
}
