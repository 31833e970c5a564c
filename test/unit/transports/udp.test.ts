/**
 * UDP transports on 127.0.0.1: datagram boundaries, peer filtering, unreachable
 * peers, re-binding after a socket error.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpListener, UdpTransport } from '../../../drivers/transports/udp.js';
import { TransportDownError, type ByteTransport } from '../../../drivers/transports/types.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function nth(t: ByteTransport, event: 'up' | 'down', timeoutMs = 3000): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    t.once(event, (e?: Error) => {
      clearTimeout(timer);
      resolve(e);
    });
  });
}

function collect(t: ByteTransport): Buffer[] {
  const got: Buffer[] = [];
  t.on('data', (d) => got.push(d));
  return got;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function listener(): Promise<UdpListener> {
  const l = new UdpListener();
  await l.listen();
  cleanup.push(() => l.stop());
  return l;
}

function transport(port: number, bindPort?: number): UdpTransport {
  const t = new UdpTransport({ host: '127.0.0.1', port, bindPort, reconnect: { initialMs: 20, maxMs: 100 } });
  cleanup.push(() => t.stop());
  return t;
}

describe('UdpTransport', () => {
  it('is up once bound; one write is one datagram and each datagram one data chunk', async () => {
    const peer = await listener();
    const fromHost = collect(peer);
    const t = transport(peer.port);
    expect(t.isUp).toBe(false);
    await expect(t.write(Buffer.from([1]))).rejects.toBeInstanceOf(TransportDownError);
    const up = nth(t, 'up');
    t.start();
    await up;
    expect(t.isUp).toBe(true);
    expect(t.description).toBe(`udp 127.0.0.1:${peer.port}`);
    await t.write(Buffer.from([0x81, 0x09, 0x04, 0x00, 0xff]));
    await t.write(Buffer.from([0x81, 0x01, 0x04, 0x00, 0x02, 0xff]));
    await until(() => fromHost.length === 2);
    expect(fromHost.map((b) => b.toString('hex'))).toEqual(['81090400ff', '8101040002ff']);
    expect(peer.lastPeer).toEqual({ address: '127.0.0.1', port: t.localPort });

    const fromPeer = collect(t);
    await peer.write(Buffer.from([0x90, 0x41, 0xff]));
    await peer.write(Buffer.from([0x90, 0x51, 0xff]));
    await until(() => fromPeer.length === 2);
    expect(fromPeer.map((b) => b.toString('hex'))).toEqual(['9041ff', '9051ff']);
  });

  it('binds the requested local port and ignores datagrams from anyone but its peer', async () => {
    const peer = await listener();
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const free = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));

    const t = transport(peer.port, free);
    const got = collect(t);
    const up = nth(t, 'up');
    t.start();
    await up;
    expect(t.localPort).toBe(free);
    const stranger = dgram.createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => stranger.close(() => r())));
    await new Promise<void>((r, j) => stranger.send(Buffer.from('intruder'), free, '127.0.0.1', (e) => (e ? j(e) : r())));
    await t.write(Buffer.from('hello'));
    await until(() => peer.lastPeer !== undefined);
    await peer.write(Buffer.from('from-peer'));
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(got.map((b) => b.toString())).toEqual(['from-peer']);
  });

  it('stays up when the peer port is closed (ICMP unreachable) and delivers again when it returns', async () => {
    const peer = await listener();
    const port = peer.port;
    const t = transport(port);
    const downs: Array<Error | undefined> = [];
    t.on('down', (e) => downs.push(e));
    const up = nth(t, 'up');
    t.start();
    await up;
    await peer.stop();
    // Writes to a closed port may fail with "unreachable" or vanish; the socket stays usable.
    for (let i = 0; i < 3; i++) {
      await t.write(Buffer.from([i])).catch((e: unknown) => expect((e as Error).message).toMatch(/unreachable/));
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(t.isUp).toBe(true);
    expect(downs).toEqual([]);
    const back = new UdpListener({ port });
    await back.listen();
    cleanup.push(() => back.stop());
    const got = collect(back);
    await t.write(Buffer.from('again'));
    await until(() => got.length === 1);
  });

  it('cannot bind an address in use: down once, retries with backoff, up when the port is free', async () => {
    const peer = await listener();
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(0, () => r()));
    const taken = squatter.address().port;
    const t = transport(peer.port, taken);
    const downs: Array<Error | undefined> = [];
    t.on('down', (e) => downs.push(e));
    t.start();
    await until(() => downs.length === 1);
    expect((downs[0] as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(t.isUp).toBe(false);
    await new Promise((r) => setTimeout(r, 150)); // several retries, still one `down`
    expect(downs).toHaveLength(1);
    const up = nth(t, 'up');
    await new Promise<void>((r) => squatter.close(() => r()));
    await up;
    expect(t.localPort).toBe(taken);
  });

  it('stop() emits down once and releases the socket; start() again binds anew', async () => {
    const peer = await listener();
    const t = transport(peer.port);
    let up = nth(t, 'up');
    t.start();
    await up;
    const down = nth(t, 'down');
    await t.stop();
    expect(await down).toBeUndefined();
    expect(t.isUp).toBe(false);
    await expect(t.write(Buffer.from([1]))).rejects.toBeInstanceOf(TransportDownError);
    up = nth(t, 'up');
    t.start();
    await up;
    await t.write(Buffer.from([2]));
  });
});

describe('UdpListener', () => {
  it('cannot answer before a peer has spoken', async () => {
    const l = await listener();
    expect(l.isUp).toBe(true);
    await expect(l.write(Buffer.from([1]))).rejects.toThrow(/no peer/);
  });
});
