/**
 * An RTSP camera's credentials, from its source's `credentialsFile`:
 * `username:password` on one line. Never logged; a file others can read is
 * used but warned about (it belongs to root or the service user, mode 0600).
 */
import { readFileSync, statSync } from 'node:fs';
import type { RecordingSourceConfig } from '../config/recording-schema.js';
import type { Logger } from '../util/logger.js';
import type { SourceCredentials } from './types.js';

export function readSourceCredentials(s: RecordingSourceConfig, log: Logger): SourceCredentials | undefined {
  if (s.kind !== 'rtsp' || !s.credentialsFile) return undefined;
  const text = readFileSync(s.credentialsFile, 'utf8').split('\n')[0]!.trim();
  const colon = text.indexOf(':');
  if (colon <= 0) throw new Error(`${s.credentialsFile}: expected "username:password" on its first line`);
  if ((statSync(s.credentialsFile).mode & 0o077) !== 0) log.warn({ source: s.id, file: s.credentialsFile }, 'camera credentials file is readable by others: chmod 600 it');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
