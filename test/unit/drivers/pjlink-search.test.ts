/**
 * PJLink class 2 search against local UDP responders on 127.0.0.1 only (the
 * search is sent to 127.0.0.1, never broadcast, from an ephemeral port).
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { searchPjlink } from '../../../drivers/pjlink/search.js';

const sockets: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

/** A class 2 projector's search responder: answers `%2SRCH` CR with the given datagrams. */
async function responder(replies: string[]): Promise<{ port: number; seen: string[] }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  const seen: string[] = [];
  s.on('message', (msg, rinfo) => {
    seen.push(msg.toString('latin1'));
    if (msg.toString('latin1') !== '%2SRCH\r') return;
    for (const r of replies) s.send(Buffer.from(r, 'latin1'), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { port: s.address().port, seen };
}

describe('searchPjlink', () => {
  it('sends %2SRCH and collects %2ACKN replies with their MAC, once each', async () => {
    const p = await responder(['%2ACKN=00:1A:2B:3C:4D:5E\r', '%2ACKN=00:1A:2B:3C:4D:5E\r']);
    const found = await searchPjlink({ timeoutMs: 200, broadcast: '127.0.0.1', port: p.port, listenPort: 0, bindAddress: '127.0.0.1' });
    expect(p.seen).toEqual(['%2SRCH\r']);
    expect(found).toEqual([{ address: '127.0.0.1', mac: '00:1a:2b:3c:4d:5e' }]);
  });

  it('ignores datagrams that are not search replies, and reports them', async () => {
    const p = await responder(['hello\r', '%2ACKN=zz\r', '%2ACKN=aa:bb:cc:dd:ee:ff\r']);
    const ignored: string[] = [];
    const found = await searchPjlink({
      timeoutMs: 200,
      broadcast: '127.0.0.1',
      port: p.port,
      listenPort: 0,
      bindAddress: '127.0.0.1',
      onIgnored: (d) => ignored.push(d),
    });
    expect(found).toEqual([{ address: '127.0.0.1', mac: 'aa:bb:cc:dd:ee:ff' }]);
    expect(ignored).toEqual(['not a search reply: "hello"', 'not a search reply: "%2ACKN=zz"']);
  });

  it('nobody answering is an empty list after the timeout', async () => {
    const silent = dgram.createSocket('udp4');
    sockets.push(silent);
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const t0 = Date.now();
    const found = await searchPjlink({ timeoutMs: 150, broadcast: '127.0.0.1', port: silent.address().port, listenPort: 0, bindAddress: '127.0.0.1' });
    expect(found).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('a port it cannot bind is a clear error', async () => {
    const taken = dgram.createSocket('udp4'); // no reuseAddr: a second bind fails
    sockets.push(taken);
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    await expect(
      searchPjlink({ timeoutMs: 50, broadcast: '127.0.0.1', listenPort: taken.address().port, bindAddress: '127.0.0.1' }),
    ).rejects.toThrow(/^PJLink search to 127\.0\.0\.1:4352 failed: bind EADDRINUSE/);
  });
});
