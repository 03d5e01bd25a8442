import pino, { type DestinationStream, type Logger } from 'pino';
import { isoTimeOncePerMillisecond, writesTo } from './log-line.js';
import { LogWriter, type LogBuffer } from './log-writer.js';

export { LogWriter, type LogBuffer } from './log-writer.js';

/** Each line written as it is logged: for a process that has not read its config (yet). */
export const UNBUFFERED: LogBuffer = { bytes: 0, flushIntervalMs: 0 };

/**
 * The service log: one JSON object per line on stdout, ISO timestamps, no pid/hostname noise.
 * Field names are part of the interface (README, `jq` recipes); add fields, do not rename them.
 */
export function createLogger(level: string, destination: DestinationStream = createLogDestination(UNBUFFERED)): Logger {
  const logger = pino(
    {
      level,
      base: undefined,
      timestamp: isoTimeOncePerMillisecond,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  writesTo(logger, destination);
  return logger;
}

/**
 * stdout, written synchronously: a hop to libuv's thread pool per line costs more CPU than serving
 * the policy. Unbuffered, each line is one write(2) when it is logged, so `kill -9` loses none.
 * Buffered, lines are gathered until `bytes` (fewer writes under load) and written at most
 * `flushIntervalMs` late: `kill -9` loses what is gathered. stop(), SIGUSR1 and the process's exit flush it.
 */
export function createLogDestination(buffer: LogBuffer): LogWriter {
  return new LogWriter(1, buffer);
}
