import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpTransport } from '../../../drivers/transports/tcp.js';
import { TransportDownError } from '../../../drivers/transports/types.js';

/** A peer on 127.0.0.1 that can be closed (connections reset) and reopened on the same port. */
class Peer {
  server: net.Server | undefined;
  sockets = new Set<net.Socket>();
  received: Buffer[] = [];
  connections = 0;
  port = 0;

  async listen(port = this.port): Promise<void> {
    const server = net.createServer((s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('data', (d) => this.received.push(d));
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  async close(mode: 'end' | 'reset' = 'reset'): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) {
      if (mode === 'reset') s.resetAndDestroy();
      else s.end();
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  send(bytes: Buffer): void {
    for (const s of this.sockets) s.write(bytes);
  }

  async waitReceived(text: string, timeoutMs = 2000): Promise<void> {
    const start = Date.now();
    while (Buffer.concat(this.received).toString() !== text) {
      if (Date.now() - start > timeoutMs) throw new Error(`peer got ${JSON.stringify(Buffer.concat(this.received).toString())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

function nth(t: TcpTransport, event: 'up' | 'down', timeoutMs = 3000): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    t.once(event, (e?: Error) => {
      clearTimeout(timer);
      resolve(e);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const peers: Peer[] = [];
const transports: TcpTransport[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) await t.stop();
  for (const p of peers.splice(0)) await p.close();
});

async function setup(): Promise<{ peer: Peer; t: TcpTransport; events: string[] }> {
  const peer = new Peer();
  peers.push(peer);
  await peer.listen(0);
  const t = new TcpTransport({ host: '127.0.0.1', port: peer.port, reconnect: { initialMs: 10, maxMs: 50 } });
  transports.push(t);
  const events: string[] = [];
  t.on('up', () => events.push('up'));
  t.on('down', (e) => events.push(e ? 'down' : 'down:orderly'));
  return { peer, t, events };
}

describe('TcpTransport', () => {
  it('connects, sends and receives bytes', async () => {
    const { peer, t } = await setup();
    const up = nth(t, 'up');
    t.start();
    await up;
    expect(t.description).toBe(`tcp 127.0.0.1:${peer.port}`);
    await t.write(Buffer.from('%1POWR ?\r'));
    await peer.waitReceived('%1POWR ?\r');
    const got = new Promise<Buffer>((resolve) => t.once('data', resolve));
    peer.send(Buffer.from('%1POWR=1\r'));
    expect((await got).toString()).toBe('%1POWR=1\r');
  });

  it.each(['reset', 'end'] as const)('goes down once when the peer %ss and closes, and comes back when it reopens', async (mode) => {
    const { peer, t, events } = await setup();
    const up = nth(t, 'up');
    t.start();
    await up;

    const down = nth(t, 'down');
    await peer.close(mode);
    const err = await down;
    expect(err).toBeInstanceOf(Error);
    expect(t.isUp).toBe(false);
    await expect(t.write(Buffer.from('x'))).rejects.toBeInstanceOf(TransportDownError);
    await sleep(200); // refused reconnects in the meantime
    expect(events).toEqual(['up', 'down']);

    const up2 = nth(t, 'up');
    await peer.listen(); // same port
    await up2;
    expect(events).toEqual(['up', 'down', 'up']);
    expect(peer.connections).toBe(2);
    await t.write(Buffer.from('again'));
    await peer.waitReceived('again');
  });

  it('reports a refused connection at start once, then connects when the peer appears', async () => {
    const { peer, t, events } = await setup();
    await peer.close();
    const down = nth(t, 'down');
    t.start();
    expect(((await down) as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    await sleep(150);
    expect(events).toEqual(['down']);
    const up = nth(t, 'up');
    await peer.listen();
    await up;
    expect(t.isUp).toBe(true);
  });

  it('stop() closes the connection with an orderly down and stops reconnecting', async () => {
    const { peer, t, events } = await setup();
    const up = nth(t, 'up');
    t.start();
    await up;
    await t.stop();
    expect(events).toEqual(['up', 'down:orderly']);
    await sleep(100);
    expect(peer.connections).toBe(1);
    expect(peer.sockets.size).toBe(0);
  });
});
