import { describe, expect, it } from 'vitest';
import { cloudConfigSchema } from '../../../sync/cloud/cli.js';
import {
  encodeUploadMetadata,
  MetadataError,
  parseUploadMetadata,
  recordingMetadataFields,
  recordingRelativePath,
  validateRecordingMetadata,
} from '../../../sync/recording-protocol.js';

const good = {
  roomId: 'jy-0101-r203',
  lessonId: 'jy-0101-r203/2025-03-03/p3',
  source: 'cam1',
  segment: '12',
  sha256: 'ab'.repeat(32),
  startedAt: '1741000000000',
  durationMs: '10000',
};

describe('recording upload metadata', () => {
  it('round-trips through Upload-Metadata and validates into typed fields', () => {
    const header = encodeUploadMetadata(good);
    expect(header).toContain('roomId anktMDEwMS1yMjAz');
    const m = validateRecordingMetadata(parseUploadMetadata(header));
    expect(m).toEqual({ ...good, segment: 12, startedAt: 1741000000000, durationMs: 10000, ext: 'mp4' });
    expect(recordingMetadataFields(m)).toEqual({ ...good, ext: 'mp4' });
    expect(recordingRelativePath(m)).toBe('jy-0101-r203/jy-0101-r203/2025-03-03/p3/cam1-12.mp4');
  });

  it('refuses malformed headers with a clear reason', () => {
    expect(() => parseUploadMetadata(undefined)).toThrow('missing');
    expect(() => parseUploadMetadata('roomId abc!')).toThrow('not base64');
    expect(() => parseUploadMetadata('roomId YQ==,roomId Yg==')).toThrow('appears twice');
    expect(() => parseUploadMetadata('a b c')).toThrow(MetadataError);
    expect(() => parseUploadMetadata('x'.repeat(5000))).toThrow('4096');
  });

  it.each([
    ['lessonId', '../../etc', 'lessonId'],
    ['lessonId', 'r203//p1', 'lessonId'],
    ['lessonId', '/abs', 'lessonId'],
    ['roomId', 'room/../x', 'roomId'],
    ['source', '.hidden', 'source'],
    ['segment', '-1', 'segment'],
    ['segment', '1.5', 'segment'],
    ['segment', '007', 'segment'],
    ['sha256', 'AB'.repeat(32), 'sha256'],
    ['sha256', 'ab'.repeat(31), 'sha256'],
    ['startedAt', 'yesterday', 'startedAt'],
    ['durationMs', String(25 * 3_600_000), 'durationMs'],
    ['ext', 'exe', 'ext'],
  ])('refuses %s = %j', (field, value, named) => {
    expect(() => validateRecordingMetadata({ ...good, [field]: value })).toThrow(named);
  });

  it('refuses missing and unknown fields, naming each', () => {
    const { sha256: _dropped, ...rest } = good;
    expect(() => validateRecordingMetadata(rest)).toThrow('sha256');
    expect(() => validateRecordingMetadata({ ...good, filename: 'x.mp4' })).toThrow('filename');
  });
});

describe('cloud config: recordings', () => {
  const base = { broker: { url: 'mqtt://127.0.0.1:1883', username: 'w', passwordFile: '/p' }, database: '/tmp/c.db' };
  const recordings = { directory: '/srv/rec', rooms: [{ id: 'jy-0101-r203', uploadTokenHash: 'scrypt$16384$8$1$a$b' }] };
  const api = { port: 8443 };
  const technicians = [{ name: 'wang', tokenHash: 'scrypt$x', role: 'admin', schools: ['*'] }];

  it('accepts an upload section with rooms and defaults the size limit', () => {
    const c = cloudConfigSchema.parse({ ...base, api, technicians, recordings });
    expect(c.recordings).toMatchObject({ directory: '/srv/rec', maxUploadBytes: 2 * 2 ** 30 });
  });

  it.each([
    [{ ...base, recordings }, 'configure api too'],
    [{ ...base, api, technicians, recordings: { ...recordings, rooms: [] } }, 'no anonymous uploads'],
    [{ ...base, api, technicians, recordings: { ...recordings, rooms: [{ id: 'r1', uploadTokenHash: 'plain' }] } }, 'scrypt'],
    [{ ...base, api, technicians, recordings: { ...recordings, rooms: [recordings.rooms[0], recordings.rooms[0]] } }, 'appears twice'],
  ])('refuses a bad upload section (%#)', (config, reason) => {
    const r = cloudConfigSchema.safeParse(config);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join('; ')).toContain(reason);
  });
});
