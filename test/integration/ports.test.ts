/**
 * `classroom-edge ports`, run as a technician runs it (the built CLI), plus
 * the listing logic on temp directories shaped like /dev and /sys.
 *
 * The development machines have no serial port for devices (only the VM's
 * kernel console on ttyS0, which is left out), no udevadm (so serialport's
 * list() fails and sysfs is read instead) and no GPIO chip: the CLI must say
 * "none found" for each section there.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  byIdLinks,
  collectPorts,
  formatPorts,
  listGpioChips,
  listSerialPorts,
  matchByIds,
  parseGpiodetect,
  type PortsReport,
} from '../../edge/ports.js';
import { CLI, requireBuilt } from '../helpers/cli.js';

let root: string;
let dev: string;
let sys: string;
let bin: string;

async function link(target: string, at: string): Promise<void> {
  await mkdir(dirname(at), { recursive: true });
  await symlink(relative(dirname(at), target), at);
}

async function file(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

const FTDI = 'usb-FTDI_FT232R_USB_UART_A1B2C3D4-if00-port0';
const CH340 = 'usb-1a86_USB_Serial-if00-port0';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ports-'));
  dev = join(root, 'dev');
  sys = join(root, 'sys');
  bin = join(root, 'bin');
  for (const n of ['ttyUSB0', 'ttyUSB1', 'ttyACM0', 'ttyS0', 'gpiochip0', 'gpiochip1']) await file(join(dev, n), '');
  const byId = join(dev, 'serial', 'by-id');
  await link(join(dev, 'ttyUSB0'), join(byId, FTDI));
  await link(join(dev, 'ttyUSB1'), join(byId, CH340));
  await link(join(dev, 'ttyACM0'), join(byId, 'usb-Arduino_Uno_8573-if00'));
  await link(join(dev, 'ttyUSB9'), join(byId, 'usb-gone-if00-port0')); // dangling: unplugged
  // sysfs: an FTDI adapter on USB, a real 16550 UART, an absent 8250 port, a virtual console, the kernel console.
  const usbDev = join(sys, 'devices', 'pci0000:00', '0000:00:14.0', 'usb1', '1-2');
  await file(join(usbDev, 'idVendor'), '0403\n');
  await file(join(usbDev, 'idProduct'), '6001\n');
  await file(join(usbDev, 'manufacturer'), 'FTDI\n');
  await file(join(usbDev, 'serial'), 'A1B2C3D4\n');
  await mkdir(join(usbDev, '1-2:1.0', 'ttyUSB0'), { recursive: true });
  await link(join(usbDev, '1-2:1.0', 'ttyUSB0'), join(sys, 'class', 'tty', 'ttyUSB0', 'device'));
  const uart = join(sys, 'devices', 'pnp0', '00:05');
  await mkdir(uart, { recursive: true });
  for (const [name, type] of [
    ['ttyS0', '4'],
    ['ttyS1', '4'],
    ['ttyS2', '0'],
  ] as const) {
    await link(uart, join(sys, 'class', 'tty', name, 'device'));
    await file(join(sys, 'class', 'tty', name, 'type'), `${type}\n`);
  }
  await mkdir(join(sys, 'class', 'tty', 'tty1'), { recursive: true });
  await file(join(sys, 'class', 'tty', 'console', 'active'), 'tty0 ttyS0\n');
  // GPIO: gpiochip0 with a sysfs chip (base 512), gpiochip1 without one.
  const soc = join(sys, 'devices', 'platform', 'soc', '1f000d0000.gpio');
  await mkdir(join(soc, 'gpiochip0'), { recursive: true });
  await link(join(soc, 'gpiochip0'), join(sys, 'bus', 'gpio', 'devices', 'gpiochip0'));
  await file(join(soc, 'gpio', 'gpiochip512', 'label'), 'pinctrl-rp1\n');
  await file(join(soc, 'gpio', 'gpiochip512', 'ngpio'), '54\n');
  await link(soc, join(soc, 'gpio', 'gpiochip512', 'device'));
  await link(join(soc, 'gpio', 'gpiochip512'), join(sys, 'class', 'gpio', 'gpiochip512'));
  const other = join(sys, 'devices', 'platform', 'other', 'gpiochip1');
  await mkdir(other, { recursive: true });
  await link(other, join(sys, 'bus', 'gpio', 'devices', 'gpiochip1'));
  // A fake gpiodetect printing what gpiodetect(1) prints.
  await file(join(bin, 'gpiodetect'), '#!/bin/sh\necho "gpiochip0 [pinctrl-rp1] (54 lines)"\necho "gpiochip1 [rp1-exp] (8 lines)"\n');
  await chmod(join(bin, 'gpiodetect'), 0o755);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('classroom-edge ports (built CLI, this machine)', () => {
  it("prints this machine's ports as the library sees them (here: none of either, so it says so)", async () => {
    requireBuilt();
    const run = spawnSync(process.execPath, [CLI, 'ports'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = await collectPorts();
    expect(run.stdout.trim()).toBe(formatPorts(report).trim());
    if (report.serial.length === 0) expect(run.stdout).toMatch(/^Serial ports: none found\n/);
    if (report.gpio.length === 0) expect(run.stdout).toMatch(/GPIO chips: none found\n/);
  });

  it('--json prints the same report as data', async () => {
    requireBuilt();
    const run = spawnSync(process.execPath, [CLI, 'ports', '--json'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as PortsReport;
    expect(report).toEqual(await collectPorts());
  });
});

describe('by-id matching', () => {
  it('groups by-id links by the port they resolve to, skipping dangling links', async () => {
    const links = await byIdLinks(join(dev, 'serial', 'by-id'));
    expect(links).toEqual(
      new Map([
        [join(dev, 'ttyUSB0'), [join(dev, 'serial', 'by-id', FTDI)]],
        [join(dev, 'ttyUSB1'), [join(dev, 'serial', 'by-id', CH340)]],
        [join(dev, 'ttyACM0'), [join(dev, 'serial', 'by-id', 'usb-Arduino_Uno_8573-if00')]],
      ]),
    );
    expect((await byIdLinks(join(root, 'missing'))).size).toBe(0);
  });

  it('attaches them to listed ports, with lower-case USB ids', async () => {
    const links = await byIdLinks(join(dev, 'serial', 'by-id'));
    const ports = await matchByIds(
      [
        { path: join(dev, 'ttyUSB0'), vendorId: '0403', productId: '6001', manufacturer: 'FTDI', serialNumber: 'A1B2C3D4' },
        { path: join(dev, 'ttyS1') },
      ],
      links,
    );
    expect(ports).toEqual([
      { path: join(dev, 'ttyUSB0'), byId: [join(dev, 'serial', 'by-id', FTDI)], vendorId: '0403', productId: '6001', manufacturer: 'FTDI', serialNumber: 'A1B2C3D4' },
      { path: join(dev, 'ttyS1'), byId: [] },
    ]);
  });
});

describe('serial port listing', () => {
  it('uses serialport list() when it works, adding by-id names and ports only by-id knows', async () => {
    const { ports, notes } = await listSerialPorts({
      devDir: dev,
      sysfsRoot: sys,
      list: async () => [
        { path: join(dev, 'ttyUSB0'), vendorId: '0403', productId: '6001', manufacturer: 'FTDI' },
        { path: join(dev, 'ttyS0') }, // the kernel console
        { path: join(dev, 'ttyUSB1'), vendorId: '1A86', productId: '7523' },
      ],
    });
    expect(ports.map((p) => [p.path, p.byId.map((b) => b.split('/').pop()), p.vendorId])).toEqual([
      [join(dev, 'ttyACM0'), ['usb-Arduino_Uno_8573-if00'], undefined],
      [join(dev, 'ttyUSB0'), [FTDI], '0403'],
      [join(dev, 'ttyUSB1'), [CH340], '1a86'],
    ]);
    expect(notes).toEqual([`skipped the kernel console: ${join(dev, 'ttyS0')}`]);
  });

  it('reads sysfs when list() fails: USB ids from the USB device, real UARTs only, no consoles', async () => {
    const { ports, notes } = await listSerialPorts({
      devDir: dev,
      sysfsRoot: sys,
      list: async () => {
        throw new Error('spawn udevadm ENOENT');
      },
    });
    expect(notes[0]).toBe(`serialport could not list ports (spawn udevadm ENOENT); read ${join(sys, 'class', 'tty')} instead`);
    expect(ports).toEqual([
      { path: join(dev, 'ttyACM0'), byId: [join(dev, 'serial', 'by-id', 'usb-Arduino_Uno_8573-if00')] }, // by-id only
      { path: join(dev, 'ttyS1'), byId: [] },
      { path: join(dev, 'ttyUSB0'), byId: [join(dev, 'serial', 'by-id', FTDI)], vendorId: '0403', productId: '6001', manufacturer: 'FTDI', serialNumber: 'A1B2C3D4' },
      { path: join(dev, 'ttyUSB1'), byId: [join(dev, 'serial', 'by-id', CH340)] },
    ]);
  });
});

describe('GPIO chip listing', () => {
  it('parses gpiodetect output', () => {
    expect(parseGpiodetect('gpiochip0 [pinctrl-bcm2711] (58 lines)\ngpiochip1 [raspberrypi-exp-gpio] (8 lines)\n')).toEqual([
      { name: 'gpiochip0', path: '/dev/gpiochip0', label: 'pinctrl-bcm2711', lines: 58 },
      { name: 'gpiochip1', path: '/dev/gpiochip1', label: 'raspberrypi-exp-gpio', lines: 8 },
    ]);
    expect(parseGpiodetect('')).toEqual([]);
  });

  it('uses gpiodetect when installed', async () => {
    const { chips, notes } = await listGpioChips({ devDir: dev, sysfsRoot: sys, env: { PATH: bin } });
    expect(chips).toEqual([
      { name: 'gpiochip0', path: join(dev, 'gpiochip0'), label: 'pinctrl-rp1', lines: 54 },
      { name: 'gpiochip1', path: join(dev, 'gpiochip1'), label: 'rp1-exp', lines: 8 },
    ]);
    expect(notes).toEqual([]);
  });

  it('without gpiodetect, reads label and line count from the matching sysfs chip where there is one', async () => {
    const { chips, notes } = await listGpioChips({ devDir: dev, sysfsRoot: sys, env: { PATH: join(root, 'nothing') } });
    expect(chips).toEqual([
      { name: 'gpiochip0', path: join(dev, 'gpiochip0'), label: 'pinctrl-rp1', lines: 54 },
      { name: 'gpiochip1', path: join(dev, 'gpiochip1') },
    ]);
    expect(notes).toEqual(['gpiodetect not installed (Debian package gpiod): labels and line counts from sysfs where readable']);
  });

  it('on an old kernel without the character device, lists the sysfs chips', async () => {
    const old = join(root, 'sys-old');
    await file(join(old, 'class', 'gpio', 'gpiochip0', 'label'), 'pinctrl-bcm2835\n');
    await file(join(old, 'class', 'gpio', 'gpiochip0', 'ngpio'), '54\n');
    const { chips, notes } = await listGpioChips({ devDir: join(root, 'dev-none'), sysfsRoot: old });
    expect(chips).toEqual([{ name: 'gpiochip0', path: join(old, 'class', 'gpio', 'gpiochip0'), label: 'pinctrl-bcm2835', lines: 54 }]);
    expect(notes[0]).toMatch(/sysfs chips \(onoff backend only\)/);
  });
});

describe('formatPorts', () => {
  it('shows each port with its stable name to use, and each chip', () => {
    const text = formatPorts({
      serial: [
        { path: '/dev/ttyUSB0', byId: [`/dev/serial/by-id/${FTDI}`], vendorId: '0403', productId: '6001', manufacturer: 'FTDI', serialNumber: 'A1B2C3D4' },
        { path: '/dev/ttyS1', byId: [] },
      ],
      gpio: [
        { name: 'gpiochip0', path: '/dev/gpiochip0', label: 'pinctrl-rp1', lines: 54 },
        { name: 'gpiochip1', path: '/dev/gpiochip1' },
      ],
      notes: ['a note'],
    });
    expect(text).toBe(
      [
        'Serial ports:',
        '  /dev/ttyUSB0 USB 0403:6001 (FTDI, serial A1B2C3D4)',
        `      use: /dev/serial/by-id/${FTDI}`,
        '  /dev/ttyS1',
        '      no /dev/serial/by-id name (not a USB port, or udev is not running)',
        '',
        'GPIO chips:',
        '  gpiochip0 [pinctrl-rp1] 54 lines  /dev/gpiochip0',
        '  gpiochip1 [label unknown]  /dev/gpiochip1',
        '',
        'note: a note',
        '',
      ].join('\n'),
    );
  });
});
