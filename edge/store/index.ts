/** Public API of the store (see docs/store.md). */
export {
  openStore,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_MAX_BATCH,
  MAX_EVENTS_PER_READ,
  type Store,
  type StoreOptions,
  type StoreStats,
  type Tx,
} from './store.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { KNOWN_STREAMS, type AppendEvent, type EventRow, type EventStream, type KnownStream } from './event-log.js';
export type { AuditInput, BehaviourInput, CardTapInput, ReadingInput, Recorded } from './repos.js';
export { MIGRATIONS, latestVersion as latestSchemaVersion, type Migration } from './migrations.js';
