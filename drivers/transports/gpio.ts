/**
 * GPIO behind a small interface (shared/STYLE.md pattern 5), so drivers are
 * tested with a fake that replays timestamped edges. Implementations:
 * - onoff (sysfs ABI): drivers/transports/gpio-onoff.ts
 * - fake: drivers/transports/gpio-fake.ts
 * (the character-device backend comes with the drivers issue)
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

export interface GpioOutput {
  write(value: 0 | 1): Promise<void>;
  read(): Promise<0 | 1>;
  close(): Promise<void>;
}

export interface GpioBackend {
  readonly name: string;
  openInput(chip: string, line: number, edge: Edge, opts?: { activeLow?: boolean; debounceMs?: number }): Promise<GpioInput>;
  openOutput(chip: string, line: number, opts?: { activeLow?: boolean; initial?: 0 | 1 }): Promise<GpioOutput>;
}
