/**
 * Display stand-ins (test/peers/*_display.py, Debian's python3 + pyserial) on
 * one end of a socat pty pair; our SerialTransport goes on the other end.
 * The stand-ins are written from the vendor manuals (see each script's header
 * and docs/drivers/peers.md), not from drivers/: a wrong code table in a
 * driver is not copied into its peer.
 *
 * A stand-in prints "ready <name> <port>" once its port is open, "state
 * power=.. input=.. volume=.. mute=.." after every change, and "rx"/"tx"/
 * "ignored" lines per frame: the tests read those through `state()` and
 * `output()`. SIGUSR1 makes it write line noise before its next reply.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killGroupAndWait, peerOutput, PYTHON, requireSocat, startPeer, startPtyPair, waitFor } from './peers.js';

export type DisplayKind = 'mdc' | 'lg' | 'nec' | 'sharp' | 'hitevision';

const SCRIPTS: Record<DisplayKind, string> = {
  mdc: 'mdc_display.py',
  lg: 'lg_display.py',
  nec: 'nec_display.py',
  sharp: 'sharp_display.py',
  hitevision: 'hitevision_display.py',
};

/** Line speed each stand-in uses unless told otherwise (Hitevision panels run at 115200). */
export const DISPLAY_BAUD: Record<DisplayKind, number> = { mdc: 9600, lg: 9600, nec: 9600, sharp: 9600, hitevision: 115200 };

const PEERS_DIR = fileURLToPath(new URL('../peers/', import.meta.url));

export interface DisplayPeerOptions {
  /** The device's own id (MDC display id, LG set id, NEC monitor id); default 1. */
  id?: number;
  /** Power at start; default standby. */
  power?: 'on' | 'standby';
  /** Seconds after a power-on during which every command but a status read is ignored / answered busy. */
  warmupS?: number;
  /** In standby, answer nothing but power-on. */
  standbySilent?: boolean;
  /** Noise bytes (hex) before every reply. */
  garbageHex?: string;
  /** Inputs this model lacks (stand-in names, e.g. 'HDMI3'): selecting one is refused. */
  missingInputs?: string[];
  input?: string;
  volume?: number;
}

export interface DisplayState {
  power: 'on' | 'standby';
  input: string;
  volume: number;
  mute: 'on' | 'off';
}

export interface DisplayPeer {
  kind: DisplayKind;
  /** The pty our transport opens. */
  hostPath: string;
  baudRate: number;
  process: ChildProcess;
  /** Peers to hand to waitFor so a dead stand-in or socat fails the wait at once. */
  procs: ChildProcess[];
  output(): string;
  /** The last state line the stand-in printed. */
  state(): DisplayState;
  /** Waits until the stand-in reports a state matching `want`. */
  waitState(want: Partial<DisplayState>, ms?: number): Promise<void>;
  /** Line noise before the stand-in's next reply (SIGUSR1). */
  noiseBeforeNextReply(): void;
  stop(): Promise<void>;
}

export function requirePyserial(): void {
  const r = spawnSync(PYTHON, ['-c', 'import serial'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`${PYTHON} with pyserial is required (apt-get install -y python3-serial): ${r.error?.message ?? r.stderr}`);
  }
}

function parseState(out: string): DisplayState | undefined {
  const lines = out.split('\n').filter((l) => l.startsWith('state '));
  const last = lines.at(-1);
  if (!last) return undefined;
  const kv = Object.fromEntries(last.slice(6).trim().split(' ').map((p) => p.split('=') as [string, string]));
  return { power: kv.power as DisplayState['power'], input: kv.input ?? '', volume: Number(kv.volume), mute: kv.mute as DisplayState['mute'] };
}

export async function startDisplayPeer(kind: DisplayKind, opts: DisplayPeerOptions = {}): Promise<DisplayPeer> {
  requireSocat();
  requirePyserial();
  const dir = mkdtempSync(join(tmpdir(), `ce-${kind}-peer-`));
  const hostPath = join(dir, 'host');
  const devicePath = join(dir, 'device');
  const procs: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await killGroupAndWait(p);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    procs.push(await startPtyPair(hostPath, devicePath));
    const args = [join(PEERS_DIR, SCRIPTS[kind]), devicePath, '--baud', String(DISPLAY_BAUD[kind])];
    if (opts.id !== undefined) args.push('--id', String(opts.id));
    if (opts.power) args.push('--power', opts.power);
    if (opts.warmupS !== undefined) args.push('--warmup', String(opts.warmupS));
    if (opts.standbySilent) args.push('--standby-silent');
    if (opts.garbageHex) args.push('--garbage', opts.garbageHex);
    for (const m of opts.missingInputs ?? []) args.push('--missing-input', m);
    if (opts.input !== undefined) args.push('--input', opts.input);
    if (opts.volume !== undefined) args.push('--volume', String(opts.volume));
    const p = startPeer(`${kind} display stand-in`, PYTHON, ['-u', ...args]);
    procs.push(p);
    await waitFor(() => /^ready /m.test(peerOutput(p)), 10_000, `${kind} stand-in ready line`, procs);
    const peer: DisplayPeer = {
      kind,
      hostPath,
      baudRate: DISPLAY_BAUD[kind],
      process: p,
      procs,
      output: () => peerOutput(p),
      state: () => {
        const s = parseState(peerOutput(p));
        if (!s) throw new Error(`${kind} stand-in printed no state line:\n${peerOutput(p)}`);
        return s;
      },
      waitState: async (want, ms = 5000) => {
        const matches = (): boolean => {
          const s = parseState(peerOutput(p));
          return !!s && Object.entries(want).every(([k, v]) => s[k as keyof DisplayState] === v);
        };
        try {
          await waitFor(matches, ms, `${kind} stand-in state ${JSON.stringify(want)}`, procs);
        } catch (e) {
          throw new Error(`${(e as Error).message}\nstand-in output:\n${peerOutput(p).slice(-3000)}`);
        }
      },
      noiseBeforeNextReply: () => {
        if (p.pid) process.kill(p.pid, 'SIGUSR1');
      },
      stop,
    };
    return peer;
  } catch (e) {
    await stop();
    throw e;
  }
}
