/**
 * `classroom-edge ports`: the serial ports and GPIO chips a technician can
 * put in the config (shared/DESIGN.md section 5; docs/deploy.md).
 *
 * Serial ports come from serialport's `SerialPort.list()` (udev data: USB
 * vendor/product ids, manufacturer, serial number). Where that fails (no
 * udevadm, e.g. in a container) they are read from sysfs instead
 * (/sys/class/tty/<name>/device, walking up to the USB device's idVendor,
 * idProduct, manufacturer and serial files). Each port is matched to its
 * stable names: the /dev/serial/by-id symlinks whose target resolves to the
 * port's /dev path, which is what config should use. The kernel console
 * (/sys/class/tty/console/active) is left out: it is not for devices.
 *
 * GPIO chips are the character devices /dev/gpiochipN and
 * /sys/bus/gpio/devices/gpiochipN; labels and line counts come from
 * `gpiodetect` (package gpiod) when installed, else from the matching sysfs
 * chip (/sys/class/gpio/gpiochip<base>/{label,ngpio}) where readable. Old
 * kernels without the character device show their sysfs chips.
 */
import { spawnSync } from 'node:child_process';
import { readFile, readdir, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { findOnPath } from '../drivers/transports/gpio-auto.js';

export interface SerialPortEntry {
  /** e.g. /dev/ttyUSB0 */
  path: string;
  /** Stable names: /dev/serial/by-id/... links to this port (use these in config). */
  byId: string[];
  vendorId?: string;
  productId?: string;
  manufacturer?: string;
  serialNumber?: string;
}

export interface GpioChipEntry {
  /** e.g. gpiochip0 (as config `transport.chip` names it) */
  name: string;
  /** /dev/gpiochipN, or the sysfs directory on kernels without the character device. */
  path: string;
  label?: string;
  lines?: number;
}

export interface PortsReport {
  serial: SerialPortEntry[];
  gpio: GpioChipEntry[];
  /** How things were found, what was skipped or unreadable. */
  notes: string[];
}

/** What serialport's list() returns (the fields we use). */
export interface ListedPort {
  path: string;
  manufacturer?: string | undefined;
  serialNumber?: string | undefined;
  vendorId?: string | undefined;
  productId?: string | undefined;
}

export interface PortsOptions {
  /** Default: serialport's SerialPort.list(). */
  list?: () => Promise<ListedPort[]>;
  /** Default '/dev'. */
  devDir?: string;
  /** Default '/sys'. */
  sysfsRoot?: string;
  /** PATH for gpiodetect (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const SERIAL_NAME = /^(tty(S|WCH|ACM|USB|AMA|MFD|O|XRUSB)\d+|rfcomm\d+)$/;
const CHIP_NAME = /^gpiochip(\d+)$/;
const byChipNumber = (a: string, b: string): number => Number(CHIP_NAME.exec(a)?.[1] ?? 0) - Number(CHIP_NAME.exec(b)?.[1] ?? 0);

const tryRealpath = (p: string): Promise<string | undefined> => realpath(p).catch(() => undefined);
const tryRead = (p: string): Promise<string | undefined> => readFile(p, 'utf8').then((s) => s.trim(), () => undefined);
const tryReaddir = (p: string): Promise<string[]> => readdir(p).catch(() => [] as string[]);
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The symlinks of a by-id directory grouped by the real path they resolve to:
 * '/dev/ttyUSB0' -> ['/dev/serial/by-id/usb-FTDI_...-if00-port0']. Dangling
 * links are skipped. A missing directory gives an empty map.
 */
export async function byIdLinks(dir: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const name of (await tryReaddir(dir)).sort()) {
    const link = join(dir, name);
    const target = await tryRealpath(link);
    if (!target) continue;
    const list = out.get(target) ?? [];
    list.push(link);
    out.set(target, list);
  }
  return out;
}

/** Attach stable by-id names to ports, matching on the resolved /dev path. */
export async function matchByIds(ports: readonly ListedPort[], links: Map<string, string[]>): Promise<SerialPortEntry[]> {
  const entries: SerialPortEntry[] = [];
  for (const p of ports) {
    const real = (await tryRealpath(p.path)) ?? p.path;
    const entry: SerialPortEntry = { path: p.path, byId: [...(links.get(real) ?? links.get(p.path) ?? [])] };
    if (p.vendorId) entry.vendorId = p.vendorId.toLowerCase();
    if (p.productId) entry.productId = p.productId.toLowerCase();
    if (p.manufacturer) entry.manufacturer = p.manufacturer;
    if (p.serialNumber) entry.serialNumber = p.serialNumber;
    entries.push(entry);
  }
  return entries;
}

/** Serial ports from sysfs, for machines where udev data is not available. */
export async function listSerialFromSysfs(sysfsRoot: string, devDir: string): Promise<ListedPort[]> {
  const classDir = join(sysfsRoot, 'class', 'tty');
  const ports: ListedPort[] = [];
  for (const name of (await tryReaddir(classDir)).filter((n) => SERIAL_NAME.test(n)).sort()) {
    const device = await tryRealpath(join(classDir, name, 'device'));
    if (!device) continue; // virtual terminals and ptys have no device
    // 8250 UARTs are registered whether or not the hardware exists; type 0 is "no UART here".
    const type = await tryRead(join(classDir, name, 'type'));
    if (name.startsWith('ttyS') && (type === undefined || type === '0')) continue;
    const port: ListedPort = { path: join(devDir, name) };
    // USB serial: idVendor etc. live on the USB device, a few levels above the tty's device.
    let dir = device;
    for (let up = 0; up < 4 && dir.length > sysfsRoot.length; up++, dir = dirname(dir)) {
      const vendorId = await tryRead(join(dir, 'idVendor'));
      if (vendorId === undefined) continue;
      port.vendorId = vendorId;
      port.productId = await tryRead(join(dir, 'idProduct'));
      port.manufacturer = await tryRead(join(dir, 'manufacturer'));
      port.serialNumber = await tryRead(join(dir, 'serial'));
      break;
    }
    ports.push(port);
  }
  return ports;
}

async function defaultList(): Promise<ListedPort[]> {
  const { SerialPort } = await import('serialport');
  return SerialPort.list();
}

export async function listSerialPorts(opts: PortsOptions = {}): Promise<{ ports: SerialPortEntry[]; notes: string[] }> {
  const devDir = opts.devDir ?? '/dev';
  const sysfsRoot = opts.sysfsRoot ?? '/sys';
  const notes: string[] = [];
  let listed: ListedPort[];
  try {
    listed = await (opts.list ?? defaultList)();
  } catch (e) {
    notes.push(`serialport could not list ports (${errText(e)}); read ${join(sysfsRoot, 'class', 'tty')} instead`);
    listed = await listSerialFromSysfs(sysfsRoot, devDir);
  }
  const consoles = new Set((await tryRead(join(sysfsRoot, 'class', 'tty', 'console', 'active')))?.split(/\s+/).filter(Boolean) ?? []);
  const skipped = listed.filter((p) => consoles.has(basename(p.path)));
  if (skipped.length) notes.push(`skipped the kernel console: ${skipped.map((p) => p.path).join(', ')}`);
  const links = await byIdLinks(join(devDir, 'serial', 'by-id'));
  const ports = await matchByIds(
    listed.filter((p) => !consoles.has(basename(p.path))),
    links,
  );
  // by-id links to ports the list missed are still usable ports.
  const known = new Set(await Promise.all(ports.map(async (p) => (await tryRealpath(p.path)) ?? p.path)));
  for (const [target, ids] of links) if (!known.has(target)) ports.push({ path: target, byId: ids });
  ports.sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
  return { ports, notes };
}

/** Parse `gpiodetect` output: "gpiochip0 [pinctrl-bcm2711] (58 lines)". */
export function parseGpiodetect(text: string): GpioChipEntry[] {
  const chips: GpioChipEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(gpiochip\d+) \[(.*)\] \((\d+) lines?\)\s*$/.exec(line.trim());
    if (m) chips.push({ name: m[1]!, path: `/dev/${m[1]!}`, label: m[2]!, lines: Number(m[3]) });
  }
  return chips;
}

/** Label and line count of a chardev chip from its sysfs chip, if exactly one matches. */
async function sysfsChipInfo(sysfsRoot: string, name: string): Promise<{ label?: string; lines?: number }> {
  const gdev = await tryRealpath(join(sysfsRoot, 'bus', 'gpio', 'devices', name));
  if (!gdev) return {};
  const classDir = join(sysfsRoot, 'class', 'gpio');
  const matches: string[] = [];
  for (const chip of (await tryReaddir(classDir)).filter((n) => CHIP_NAME.test(n))) {
    const dev = await tryRealpath(join(classDir, chip, 'device'));
    if (dev === gdev || dev === dirname(gdev)) matches.push(join(classDir, chip));
  }
  if (matches.length !== 1) return {};
  const label = await tryRead(join(matches[0]!, 'label'));
  const lines = Number.parseInt((await tryRead(join(matches[0]!, 'ngpio'))) ?? '', 10);
  return { ...(label ? { label } : {}), ...(Number.isInteger(lines) ? { lines } : {}) };
}

export async function listGpioChips(opts: PortsOptions = {}): Promise<{ chips: GpioChipEntry[]; notes: string[] }> {
  const devDir = opts.devDir ?? '/dev';
  const sysfsRoot = opts.sysfsRoot ?? '/sys';
  const notes: string[] = [];
  const names = new Set([
    ...(await tryReaddir(devDir)).filter((n) => CHIP_NAME.test(n)),
    ...(await tryReaddir(join(sysfsRoot, 'bus', 'gpio', 'devices'))).filter((n) => CHIP_NAME.test(n)),
  ]);
  if (names.size === 0) {
    // Old kernels: sysfs chips only, named after their base.
    const legacy = (await tryReaddir(join(sysfsRoot, 'class', 'gpio'))).filter((n) => CHIP_NAME.test(n)).sort(byChipNumber);
    const chips: GpioChipEntry[] = [];
    for (const n of legacy) {
      const dir = join(sysfsRoot, 'class', 'gpio', n);
      const label = await tryRead(join(dir, 'label'));
      const lines = Number.parseInt((await tryRead(join(dir, 'ngpio'))) ?? '', 10);
      chips.push({ name: n, path: dir, ...(label ? { label } : {}), ...(Number.isInteger(lines) ? { lines } : {}) });
    }
    if (chips.length) notes.push('no GPIO character devices: these are sysfs chips (onoff backend only)');
    return { chips, notes };
  }
  const gpiodetect = findOnPath('gpiodetect', opts.env);
  const detected = new Map<string, GpioChipEntry>();
  if (gpiodetect) {
    const run = spawnSync(gpiodetect, [], { encoding: 'utf8', timeout: 5000, env: opts.env ?? process.env });
    if (run.status === 0) for (const c of parseGpiodetect(run.stdout)) detected.set(c.name, c);
    else notes.push(`gpiodetect failed: ${(run.stderr || run.error?.message || `exit ${run.status}`).trim()}`);
  } else {
    notes.push('gpiodetect not installed (Debian package gpiod): labels and line counts from sysfs where readable');
  }
  const chips: GpioChipEntry[] = [];
  for (const name of [...names].sort(byChipNumber)) {
    const info = detected.get(name) ?? { name, path: join(devDir, name), ...(await sysfsChipInfo(sysfsRoot, name)) };
    chips.push({ ...info, path: join(devDir, name) });
  }
  return { chips, notes };
}

export async function collectPorts(opts: PortsOptions = {}): Promise<PortsReport> {
  const [serial, gpio] = await Promise.all([listSerialPorts(opts), listGpioChips(opts)]);
  return { serial: serial.ports, gpio: gpio.chips, notes: [...serial.notes, ...gpio.notes] };
}

/** The report as a technician reads it. */
export function formatPorts(report: PortsReport): string {
  const lines: string[] = [];
  if (report.serial.length === 0) lines.push('Serial ports: none found');
  else {
    lines.push('Serial ports:');
    for (const p of report.serial) {
      const usb = p.vendorId ? ` USB ${p.vendorId}:${p.productId ?? '????'}` : '';
      const extra = [p.manufacturer, p.serialNumber ? `serial ${p.serialNumber}` : undefined].filter(Boolean).join(', ');
      lines.push(`  ${p.path}${usb}${extra ? ` (${extra})` : ''}`);
      if (p.byId.length === 0) lines.push('      no /dev/serial/by-id name (not a USB port, or udev is not running)');
      for (const id of p.byId) lines.push(`      use: ${id}`);
    }
  }
  lines.push('');
  if (report.gpio.length === 0) lines.push('GPIO chips: none found');
  else {
    lines.push('GPIO chips:');
    for (const c of report.gpio) {
      const label = c.label !== undefined ? ` [${c.label}]` : ' [label unknown]';
      const count = c.lines !== undefined ? ` ${c.lines} lines` : '';
      lines.push(`  ${c.name}${label}${count}  ${c.path}`);
    }
  }
  if (report.notes.length) {
    lines.push('');
    for (const n of report.notes) lines.push(`note: ${n}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The `ports` command; returns the exit code. */
export async function cmdPorts(opts: { json?: boolean | undefined }, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const report = await collectPorts();
  out.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatPorts(report));
  return 0;
}
