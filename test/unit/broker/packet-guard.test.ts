import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuardedConnection, MalformedLengthError, PacketSizeScanner, PacketTooLargeError } from '../../../edge/broker/packet-guard.js';

/** MQTT 3.1.1 section 2.2.3 "Remaining Length" encoding. */
function encodeLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const packet = (type: number, bodyLength: number) => Buffer.concat([Buffer.from([type, ...encodeLength(bodyLength)]), Buffer.alloc(bodyLength, 0x61)]);

describe('remaining length encoding (MQTT 3.1.1 table 2.4)', () => {
  it.each([
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16383, [0xff, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2097151, [0xff, 0xff, 0x7f]],
    [2097152, [0x80, 0x80, 0x80, 0x01]],
    [268435455, [0xff, 0xff, 0xff, 0x7f]],
  ])('the test encoder gives %i as the spec does', (n, bytes) => {
    expect(encodeLength(n)).toEqual(bytes);
  });
});

describe('PacketSizeScanner', () => {
  it('passes packets up to the limit, whole, split and several per chunk', () => {
    const s = new PacketSizeScanner(200);
    expect(s.push(packet(0x30, 200))).toBeNull();
    const two = Buffer.concat([packet(0xc0, 0), packet(0x30, 150), packet(0x82, 10)]);
    for (let i = 0; i < two.length; i++) expect(s.push(two.subarray(i, i + 1))).toBeNull();
  });

  it('objects to a packet over the limit as soon as its length is known', () => {
    const s = new PacketSizeScanner(16384);
    // Only the fixed header of a 16385-byte packet: no body needed to decide.
    const err = s.push(Buffer.from([0x30, ...encodeLength(16385)]));
    expect(err).toBeInstanceOf(PacketTooLargeError);
    expect((err as PacketTooLargeError).limit).toBe(16384);
  });

  it('objects early to the MQTT maximum announced one byte at a time', () => {
    const s = new PacketSizeScanner(1000);
    expect(s.push(Buffer.from([0x10]))).toBeNull();
    expect(s.push(Buffer.from([0xff]))).toBeNull(); // 127 so far
    expect(s.push(Buffer.from([0xff]))).toBeInstanceOf(PacketTooLargeError); // >= 16383
  });

  it('objects to a remaining length longer than four bytes', () => {
    const s = new PacketSizeScanner(Number.MAX_SAFE_INTEGER);
    expect(s.push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toBeInstanceOf(MalformedLengthError);
  });

  it('finds exactly the first oversized packet whatever the chunking', () => {
    const sizes = fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(sizes, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }), (lengths, cuts) => {
        const limit = 300;
        const stream = Buffer.concat(lengths.map((n) => packet(0x30, n)));
        const s = new PacketSizeScanner(limit);
        let err: Error | null = null;
        let at = 0;
        for (let c = 0; at < stream.length && !err; c++) {
          const size = cuts[c % cuts.length] ?? 1;
          err = s.push(stream.subarray(at, at + size));
          at += size;
        }
        expect(err !== null).toBe(lengths.some((n) => n > limit));
      }),
      { numRuns: 500 },
    );
  });
});

describe('GuardedConnection', () => {
  it('passes bytes both ways and ends when the inner stream ends', async () => {
    const inner = new PassThrough();
    const written: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => written.push(d));
    // Use a duplex whose readable side is `inner` and writable side is `sink`.
    const { Duplex } = await import('node:stream');
    const duplex = Duplex.from({ readable: inner, writable: sink });
    const g = new GuardedConnection(duplex, { maxPacketBytes: 100, remoteAddress: '10.0.0.9', onViolation: () => undefined });
    const read: Buffer[] = [];
    g.on('data', (d: Buffer) => read.push(d));
    const ended = new Promise<void>((r) => g.on('end', () => r()));
    g.write(Buffer.from([0xd0, 0x00]));
    inner.write(packet(0xc0, 0));
    inner.end(packet(0x30, 5));
    await ended;
    expect(Buffer.concat(read)).toEqual(Buffer.concat([packet(0xc0, 0), packet(0x30, 5)]));
    expect(Buffer.concat(written)).toEqual(Buffer.from([0xd0, 0x00]));
    expect(g.remoteAddress).toBe('10.0.0.9');
  });

  it('hands packets written while corked (a group commit\'s PUBACKs) to the inner stream in one write, in order', async () => {
    const { Duplex, Writable } = await import('node:stream');
    const writes: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        writes.push(chunk);
        cb();
      },
    });
    const g = new GuardedConnection(Duplex.from({ readable: new PassThrough(), writable: sink }), { maxPacketBytes: 100, remoteAddress: 'x', onViolation: () => undefined });
    const pubacks = [1, 2, 3, 4].map((id) => Buffer.from([0x40, 0x02, 0x00, id]));
    g.cork();
    for (const p of pubacks) g.write(p);
    expect(writes).toHaveLength(0);
    g.uncork();
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toEqual(Buffer.concat(pubacks));
    g.write(Buffer.from([0xd0, 0x00]));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
  });

  it('destroys itself and the inner stream on an oversized packet, reporting it once', async () => {
    const inner = new PassThrough();
    const violations: Error[] = [];
    const g = new GuardedConnection(inner, { maxPacketBytes: 100, remoteAddress: 'x', onViolation: (e) => violations.push(e) });
    const read: Buffer[] = [];
    g.on('data', (d: Buffer) => read.push(d));
    const closed = new Promise<Error | undefined>((r) => {
      g.on('error', (e) => r(e));
    });
    inner.write(packet(0x30, 10));
    inner.write(packet(0x30, 101));
    inner.write(packet(0x30, 101));
    const err = await closed;
    expect(err).toBeInstanceOf(PacketTooLargeError);
    expect(violations).toHaveLength(1);
    expect(inner.destroyed).toBe(true);
    expect(Buffer.concat(read)).toEqual(packet(0x30, 10));
  });
});
