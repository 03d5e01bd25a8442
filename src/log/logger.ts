import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * How log lines reach stdout (the config's log.buffer_bytes and log.flush_interval_ms): `bytes` 0
 * writes each line as it is logged; more gathers lines into writes of that size, each line at most
 * `flushIntervalMs` late.
 */
export interface LogBuffer {
  bytes: number;
  flushIntervalMs: number;
}

/** Each line written as it is logged: for a process that has not read its config (yet). */
export const UNBUFFERED: LogBuffer = { bytes: 0, flushIntervalMs: 0 };

/**
 * The service log: one JSON object per line on stdout, ISO timestamps, no pid/hostname noise.
 * Field names are part of the interface (README, `jq` recipes); add fields, do not rename them.
 */
export function createLogger(level: string, destination: DestinationStream = createLogDestination(UNBUFFERED)): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: isoTimeOncePerMillisecond,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * stdout, written synchronously: a hop to libuv's thread pool per line costs more CPU than serving
 * the policy. Unbuffered, each line is one write(2) when it is logged, so `kill -9` loses none.
 * Buffered, lines are gathered until `bytes` (fewer writes under load) and written at most
 * `flushIntervalMs` late: `kill -9` loses what is gathered. stop() and SIGUSR1 flush it.
 */
export function createLogDestination({ bytes, flushIntervalMs }: LogBuffer): ReturnType<typeof pino.destination> {
  if (bytes === 0) return pino.destination({ dest: 1, sync: true });
  // sonic-boom's chunks (maxWrite) must be larger than minLength; twice it leaves room for the
  // line that crosses it, so that one write(2) takes the whole buffer.
  return pino.destination({ dest: 1, sync: true, minLength: bytes, maxWrite: 2 * bytes, periodicFlush: flushIntervalMs });
}

let lastMillisecond = 0;
let lastTimestamp = '';

/** pino's isoTime, formatted once per millisecond rather than once per line: under load many lines share one. */
function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTimestamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTimestamp;
}
