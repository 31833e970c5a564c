import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ackSchema,
  batchSchema,
  decodeMessage,
  districtTopics,
  encodeMessage,
  parseDistrictTopic,
  statusSchema,
  type Batch,
} from '../../../sync/protocol.js';

function batch(n: number, first = 1): Batch {
  const events = Array.from({ length: n }, (_, i) => ({
    seq: first + i,
    stream: 'sensor',
    type: 'sensor/reading',
    entityId: String(first + i),
    payload: { device: 'air', metric: 'co2', value: 400 + i, unit: 'ppm' },
    ts: 1_760_000_000_000 + i,
    clockSynced: true,
    bootId: 'boot-1',
  }));
  return { v: 1, roomId: 'r203', storeId: 'store-a', batchId: 'b1', firstSeq: first, lastSeq: first + n - 1, events, sentAt: 1_760_000_000_000 };
}

describe('district protocol', () => {
  it('round-trips a small batch as plain JSON', () => {
    const b = batch(1);
    const buf = encodeMessage(b);
    expect(buf[0]).toBe(0x7b);
    const d = decodeMessage(batchSchema, buf);
    expect(d.ok && d.value).toEqual(b);
    expect(d.ok && d.compressed).toBe(false);
  });

  it('gzips a large batch when it pays and decodes it by its magic bytes', () => {
    const b = batch(200);
    const json = Buffer.from(JSON.stringify(b));
    const buf = encodeMessage(b);
    expect(buf[0]).toBe(0x1f);
    expect(buf[1]).toBe(0x8b);
    expect(buf.length).toBeLessThan(json.length);
    const d = decodeMessage(batchSchema, buf);
    expect(d.ok && d.compressed).toBe(true);
    expect(d.ok && d.value).toEqual(b);
  });

  it('keeps a message up to the threshold as JSON, even when it would compress', () => {
    const msg = { v: 1, roomId: 'r203', state: 'online', storeId: 'a'.repeat(40), pad: 'a'.repeat(900) };
    const buf = encodeMessage(msg);
    expect(buf.length).toBeLessThanOrEqual(1024);
    expect(buf[0]).toBe(0x7b);
    expect(encodeMessage(msg, { gzipThreshold: 100 })[0]).toBe(0x1f);
  });

  it('rejects malformed input with typed errors, never a throw', () => {
    const cases: Array<[Buffer, string]> = [
      [Buffer.from('not json'), 'not-json'],
      [Buffer.from('{"v":1,'), 'not-json'],
      [Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]), 'bad-gzip'],
      [Buffer.from('[]'), 'not-json'],
      [Buffer.alloc(0), 'not-json'],
      [Buffer.from(JSON.stringify({ ...batch(2), lastSeq: 5 })), 'invalid'],
      [Buffer.from(JSON.stringify({ ...batch(1), v: 2 })), 'invalid'],
      [Buffer.from(JSON.stringify({ ...batch(1), events: [] })), 'invalid'],
      [Buffer.from(JSON.stringify({ ...batch(1), roomId: 'a/b' })), 'invalid'],
    ];
    const unordered = batch(3);
    unordered.events[2]!.seq = 2;
    unordered.lastSeq = 2;
    cases.push([Buffer.from(JSON.stringify(unordered)), 'invalid']);
    for (const [buf, code] of cases) {
      const d = decodeMessage(batchSchema, buf);
      expect(d.ok, buf.toString('latin1').slice(0, 40)).toBe(false);
      if (!d.ok) expect(d.error.code).toBe(code);
    }
  });

  it('rejects an oversized message before parsing it', () => {
    const d = decodeMessage(batchSchema, Buffer.alloc(5000, 0x20), { maxCompressedBytes: 4096 });
    expect(!d.ok && d.error.code).toBe('too-large');
  });

  it('rejects a gzip bomb without inflating it fully', () => {
    // 64 MB of spaces then '{}' gzips to about 64 KB.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"x":"'), Buffer.alloc(64 * 1024 * 1024, 0x61), Buffer.from('"}')]));
    expect(bomb.length).toBeLessThan(200 * 1024);
    const d = decodeMessage(batchSchema, bomb);
    expect(!d.ok && d.error.code).toBe('too-large');
  });

  it('validates acks and statuses', () => {
    const ack = { v: 1, roomId: 'r203', storeId: 's', ackedSeq: 10, ts: 1 };
    expect(decodeMessage(ackSchema, Buffer.from(JSON.stringify(ack))).ok).toBe(true);
    expect(decodeMessage(ackSchema, Buffer.from(JSON.stringify({ ...ack, ackedSeq: -1 }))).ok).toBe(false);
    expect(decodeMessage(statusSchema, Buffer.from(JSON.stringify({ v: 1, roomId: 'r203', state: 'offline' }))).ok).toBe(true);
  });

  it('builds and parses district topics', () => {
    const t = districtTopics('r203');
    expect(t.events).toBe('district/rooms/r203/up/events');
    expect(parseDistrictTopic(t.events)).toEqual({ kind: 'events', roomId: 'r203' });
    expect(parseDistrictTopic(t.ack)).toEqual({ kind: 'ack', roomId: 'r203' });
    expect(parseDistrictTopic(t.status)).toEqual({ kind: 'status', roomId: 'r203' });
    expect(parseDistrictTopic(t.telemetry('panel'))).toEqual({ kind: 'telemetry', roomId: 'r203', deviceId: 'panel' });
    expect(parseDistrictTopic('district/rooms/r203/up/events/x')).toBeNull();
    expect(parseDistrictTopic('classroom/r203/card')).toBeNull();
  });
});
