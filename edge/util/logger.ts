import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import type { LogRing } from './log-ring.js';

export type Logger = PinoLogger;

/**
 * Root logger; children are namespaced (`edge:sync`, `drv:mdc`) with `child({ ns })`.
 * With `ring`, every record is also kept (reduced, bounded) in that ring of recent
 * records for the technicians' `logs.recent` remote command (edge/util/log-ring.ts).
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream; ring?: LogRing } = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const opts: LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.ring) {
    const main = (options.destination ?? pino.destination(1)) as pino.DestinationStream;
    return pino(opts, pino.multistream([{ level: level as pino.Level, stream: main }, { level: level as pino.Level, stream: options.ring }]));
  }
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that drops everything: for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function namespaced(parent: Logger, ns: string, extra: Record<string, unknown> = {}): Logger {
  return parent.child({ ns, ...extra });
}
