/**
 * Independent peers for integration tests: socat pseudo-terminal pairs and
 * Debian's python3-pymodbus servers. Missing tools fail loudly (the test set-up
 * installs them; a test never passes by skipping).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

export function requireSocat(): void {
  if (!existsSync('/usr/bin/socat')) throw new Error('socat is missing: apt-get install -y socat (npm test installs it in pretest)');
}

/** What the Modbus peers import: pymodbus.server needs serial_asyncio, which Debian's python3-pymodbus only recommends. */
export const PYMODBUS_IMPORTS = 'import serial\nfrom pymodbus.server import StartSerialServer, StartTcpServer\nfrom pymodbus.transaction import ModbusRtuFramer';

export function requirePymodbus(): void {
  const py = spawnSync(PYTHON, ['-c', PYMODBUS_IMPORTS], { encoding: 'utf8' });
  if (py.status !== 0) {
    throw new Error(
      `the pymodbus servers cannot start with ${PYTHON} (apt-get install -y python3-pymodbus python3-serial python3-serial-asyncio; npm test installs them in pretest):\n${py.stderr}`,
    );
  }
}

/** What a started peer printed (the last 16 KiB) and how it ended, kept per child. */
const peerRecords = new WeakMap<ChildProcess, { name: string; output: string; exit: string | null }>();

/**
 * Waits for `cond`. When one of `peers` has exited meanwhile, fails at once with the peer's own
 * output: a peer that cannot start must not cost the test its whole timeout.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string, peers: ChildProcess[] = []): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    for (const p of peers) {
      const failure = peerFailure(p);
      if (failure) throw new Error(`${failure}\n(while waiting for ${what})`);
    }
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A peer that has exited: what it was, how it ended and what it printed; null while it runs. */
export function peerFailure(p: ChildProcess): string | null {
  const rec = peerRecords.get(p);
  if (!rec || rec.exit === null) return null;
  return `${rec.name} exited (${rec.exit})${rec.output.trim() ? `:\n${rec.output.trim()}` : ' without output'}`;
}

/** What a peer has printed so far (for assertions and failure messages). */
export function peerOutput(p: ChildProcess): string {
  return peerRecords.get(p)?.output ?? '';
}

/**
 * An independent peer in its own process group (so the whole group can be killed), its stdout
 * and stderr kept for `waitFor(…, [peer])`'s failure message.
 */
export function startPeer(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const p = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ?? process.env });
  const rec = { name, output: '', exit: null as string | null };
  peerRecords.set(p, rec);
  const keep = (d: Buffer) => {
    rec.output = (rec.output + d.toString()).slice(-16_384);
  };
  p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  p.on('error', (e) => {
    rec.exit ??= `could not start: ${e.message}`;
  });
  p.on('exit', (code, signal) => {
    rec.exit = signal ? `signal ${signal}` : `code ${code}`;
  });
  return p;
}

/** A child in its own process group, so the whole group can be killed. */
export function startDetached(cmd: string, args: string[]): ChildProcess {
  const p = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr?.on('data', () => undefined);
  return p;
}

export function killGroup(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    /* already gone */
  }
}

export async function killGroupAndWait(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  killGroup(p, signal);
  await gone;
}

/** socat pty pair with stable links `a` and `b` (the links vanish when socat dies, like an unplugged USB adapter). */
export async function startPtyPair(a: string, b: string): Promise<ChildProcess> {
  requireSocat();
  const p = startPeer('socat pty pair', '/usr/bin/socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  await waitFor(() => existsSync(a) && existsSync(b), 5000, 'socat pty pair', [p]);
  return p;
}

/**
 * pymodbus 3.0 RTU server on `port`. `units` maps unit id -> input registers
 * (address -> value); holding registers mirror them.
 */
export function startPymodbusRtu(dir: string, port: string, units: Record<number, Record<number, number>>): ChildProcess {
  requirePymodbus();
  const slaves = Object.entries(units)
    .map(([id, regs]) => `${id}: ModbusSlaveContext(ir=ModbusSparseDataBlock(${JSON.stringify(regs)}), hr=ModbusSparseDataBlock(${JSON.stringify(regs)}), zero_mode=True)`)
    .join(',\n    ');
  const script = `
import sys, logging
from pymodbus.server import StartSerialServer
from pymodbus.datastore import ModbusSlaveContext, ModbusServerContext, ModbusSparseDataBlock
from pymodbus.transaction import ModbusRtuFramer
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
def keys(d): return {int(k): v for k, v in d.items()}
slaves = {
    ${slaves.replace(/ModbusSparseDataBlock\((\{[^}]*\})\)/g, 'ModbusSparseDataBlock(keys($1))')}
}
StartSerialServer(context=ModbusServerContext(slaves=slaves, single=False), framer=ModbusRtuFramer, port=sys.argv[1], baudrate=9600)
`;
  const file = join(dir, `pymodbus-${Date.now()}-${Math.random().toString(36).slice(2)}.py`);
  writeFileSync(file, script);
  return startPeer('pymodbus RTU server', PYTHON, [file, port]);
}
