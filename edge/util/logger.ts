import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';

export type Logger = PinoLogger;

/** Root logger; children are namespaced (`edge:sync`, `drv:mdc`) with `child({ ns })`. */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that drops everything: for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function namespaced(parent: Logger, ns: string, extra: Record<string, unknown> = {}): Logger {
  return parent.child({ ns, ...extra });
}
