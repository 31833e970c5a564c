/**
 * SerialTransport against node-serialport's MockBinding. MockBinding cannot
 * unplug an open port, so a thin wrapper adds that: unplug() fails the
 * pending read with a non-canceled error (what the Linux binding reports when
 * a USB adapter vanishes) and makes the path unopenable until plugIn().
 */
import { Writable } from 'node:stream';
import { SerialPortMock } from 'serialport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerialTransport, type BindingInterface } from '../../../drivers/transports/serial.js';
import { TransportDownError } from '../../../drivers/transports/types.js';
import { createLogger, type Logger } from '../../../edge/util/logger.js';

const MockBinding = SerialPortMock.binding;
type MockPort = Awaited<ReturnType<typeof MockBinding.open>>;
type PortBinding = Awaited<ReturnType<BindingInterface['open']>>;
type OpenOptions = Parameters<BindingInterface['open']>[0];

const PATH = '/dev/serial/by-id/usb-Prolific-if00-port0';

class UnpluggablePort implements PortBinding {
  private failRead: ((e: Error) => void) | undefined;
  private unplugged = false;
  constructor(readonly inner: MockPort) {}
  get openOptions() {
    return this.inner.openOptions;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  set isOpen(v: boolean) {
    this.inner.isOpen = v;
  }
  read(buffer: Buffer, offset: number, length: number) {
    if (this.unplugged) return Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
    return new Promise<{ buffer: Buffer; bytesRead: number }>((resolve, reject) => {
      this.failRead = reject;
      this.inner.read(buffer, offset, length).then(resolve, reject);
    });
  }
  unplug(): void {
    this.unplugged = true;
    this.failRead?.(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
  }
  write(buffer: Buffer) {
    return this.unplugged ? Promise.reject(new Error('EIO: i/o error, write')) : this.inner.write(buffer);
  }
  close() {
    return this.inner.close();
  }
  update(o: { baudRate: number }) {
    return this.inner.update(o);
  }
  set(o: object) {
    return this.inner.set(o);
  }
  get() {
    return this.inner.get();
  }
  getBaudRate() {
    return this.inner.getBaudRate();
  }
  flush() {
    return this.inner.flush();
  }
  drain() {
    return this.inner.drain();
  }
}

class UnpluggableBinding implements BindingInterface {
  present = true;
  opens = 0;
  failedOpens = 0;
  ports: UnpluggablePort[] = [];
  async list() {
    return MockBinding.list();
  }
  async open(options: OpenOptions): Promise<UnpluggablePort> {
    this.opens++;
    if (!this.present) {
      this.failedOpens++;
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${options.path}'`), { code: 'ENOENT' });
    }
    const port = new UnpluggablePort(await MockBinding.open(options));
    this.ports.push(port);
    return port;
  }
  get last(): UnpluggablePort {
    const p = this.ports.at(-1);
    if (!p) throw new Error('no port opened yet');
    return p;
  }
  unplug(): void {
    this.present = false;
    this.last.unplug();
  }
}

/** Resolve when `event` has fired `n` times in total (counting from now). */
function nth(t: SerialTransport, event: 'up' | 'down', n = 1, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`no ${event} #${n} within ${timeoutMs} ms`)), timeoutMs);
    const on = (): void => {
      if (++seen === n) {
        clearTimeout(timer);
        t.off(event, on);
        resolve();
      }
    };
    t.on(event, on);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function capturingLogger(): { logger: Logger; lines: () => { level: number; msg: string }[] } {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination: dest });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { level: number; msg: string }),
  };
}

let binding: UnpluggableBinding;
let transport: SerialTransport | undefined;

beforeEach(() => {
  MockBinding.reset();
  MockBinding.createPort(PATH, { record: true });
  binding = new UnpluggableBinding();
});

afterEach(async () => {
  await transport?.stop();
  transport = undefined;
});

function make(extra: Partial<ConstructorParameters<typeof SerialTransport>[0]> = {}): SerialTransport {
  transport = new SerialTransport({ path: PATH, baudRate: 9600, binding, reconnect: { initialMs: 10, maxMs: 40 }, ...extra });
  return transport;
}

describe('SerialTransport (MockBinding)', () => {
  it('opens with the configured line settings and emits up', async () => {
    const t = make({ parity: 'even', stopBits: 2, dataBits: 7 });
    const up = nth(t, 'up');
    t.start();
    await up;
    expect(t.isUp).toBe(true);
    expect(t.description).toBe(`serial ${PATH}@9600`);
    expect(binding.last.openOptions).toMatchObject({ path: PATH, baudRate: 9600, parity: 'even', stopBits: 2, dataBits: 7 });
  });

  it('writes bytes to the port (recorded) and resolves after drain', async () => {
    const t = make();
    const up = nth(t, 'up');
    t.start();
    await up;
    await t.write(Uint8Array.from([0xaa, 0x11, 0x01, 0x01, 0x01, 0x14]));
    await t.write(Buffer.from('ka 01 01\r'));
    expect(binding.last.inner.recording).toEqual(Buffer.concat([Buffer.from('aa1101010114', 'hex'), Buffer.from('ka 01 01\r')]));
  });

  it('emits the bytes the device sends', async () => {
    const t = make();
    const up = nth(t, 'up');
    t.start();
    await up;
    const got = new Promise<Buffer>((resolve) => t.once('data', resolve));
    binding.last.inner.emitData(Buffer.from([0x02, 0x36, 0x32]));
    expect(await got).toEqual(Buffer.from([0x02, 0x36, 0x32]));
  });

  it('goes down once when unplugged, retries with backoff, and comes back up when the port returns', async () => {
    const { logger, lines } = capturingLogger();
    const t = make({ logger });
    const events: string[] = [];
    t.on('up', () => events.push('up'));
    t.on('down', (e) => events.push(`down:${e?.message ?? ''}`));
    const up1 = nth(t, 'up');
    t.start();
    await up1;

    const down = nth(t, 'down');
    binding.unplug();
    await down;
    expect(t.isUp).toBe(false);
    await expect(t.write(Buffer.from([1]))).rejects.toBeInstanceOf(TransportDownError);
    await sleep(200); // several failed reopen attempts at 10..40 ms
    expect(binding.failedOpens).toBeGreaterThanOrEqual(3);

    const up2 = nth(t, 'up');
    binding.present = true;
    await up2;
    expect(events).toEqual(['up', 'down:EIO: i/o error, read', 'up']);
    expect(binding.ports).toHaveLength(2);

    // Bytes flow again on the new port, both ways.
    await t.write(Buffer.from('again'));
    expect(binding.last.inner.recording.toString()).toBe('again');
    const got = new Promise<Buffer>((resolve) => t.once('data', resolve));
    binding.last.inner.emitData(Buffer.from('back'));
    expect((await got).toString()).toBe('back');

    // Logged once down (warn, 40) and once back (info, 30); retries only at debug (20).
    const log = lines();
    expect(log.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['serial port lost; reconnecting']);
    expect(log.filter((l) => l.level === 30).map((l) => l.msg)).toEqual(['serial port open', 'serial port is back']);
    expect(log.filter((l) => l.level === 20).length).toBeGreaterThanOrEqual(2);
  });

  it('reports a port missing at start once, then comes up when it appears', async () => {
    binding.present = false;
    const t = make();
    let downs = 0;
    t.on('down', () => downs++);
    const down = nth(t, 'down');
    t.start();
    await down;
    await sleep(150);
    expect(binding.failedOpens).toBeGreaterThanOrEqual(3);
    expect(downs).toBe(1);
    const up = nth(t, 'up');
    binding.present = true;
    await up;
    expect(t.isUp).toBe(true);
  });

  it('goes down when the device path disappears although the open port never reported a hangup', async () => {
    const { mkdtempSync, writeFileSync, unlinkSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'serial-presence-'));
    try {
      // The mock's port path is a real file here, standing for /dev/ttyUSB0 and its by-id link.
      const path = join(dir, 'ttyUSB0');
      writeFileSync(path, '');
      MockBinding.createPort(path, { record: true });
      const t = make({ path, presenceCheckMs: 20 });
      const downs: Array<Error | undefined> = [];
      t.on('down', (e) => downs.push(e));
      const up = nth(t, 'up');
      t.start();
      await up;
      await new Promise((r) => setTimeout(r, 80));
      expect(downs).toEqual([]); // present: checked a few times, nothing reported
      const down = nth(t, 'down');
      unlinkSync(path);
      await down;
      expect(t.isUp).toBe(false);
      expect(downs.map((e) => e?.message)).toEqual([`${path} has disappeared (ENOENT)`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() closes the port, emits an orderly down and cancels retries', async () => {
    const t = make();
    const up = nth(t, 'up');
    t.start();
    await up;
    const downs: (Error | undefined)[] = [];
    t.on('down', (e) => downs.push(e));
    await t.stop();
    expect(downs).toEqual([undefined]);
    expect(binding.last.isOpen).toBe(false);
    // The port is released: another opener may take it (MockBinding enforces the lock).
    const other = await MockBinding.open({ path: PATH, baudRate: 9600 });
    await other.close();

    // Stopped while retrying: no more attempts.
    binding.present = false;
    const t2 = make();
    const down = nth(t2, 'down');
    t2.start();
    await down;
    await t2.stop();
    const attempts = binding.opens;
    binding.present = true;
    await sleep(150);
    expect(binding.opens).toBe(attempts);
    expect(t2.isUp).toBe(false);
  });

  it('rejects writes before start with TransportDownError naming the port', async () => {
    const t = make();
    await expect(t.write(Buffer.from([1]))).rejects.toThrow(`serial ${PATH}@9600 is not connected`);
  });
});
