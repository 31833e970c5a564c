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

export function requirePymodbus(): void {
  const py = spawnSync(PYTHON, ['-c', 'import pymodbus, serial'], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`python3-pymodbus is missing for ${PYTHON}: apt-get install -y python3-pymodbus python3-serial\n${py.stderr}`);
}

export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
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
  const p = startDetached('/usr/bin/socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  await waitFor(() => existsSync(a) && existsSync(b), 5000, 'socat pty pair');
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
  return startDetached(PYTHON, [file, port]);
}
