import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * The service log: one JSON object per line on stdout, ISO timestamps, no pid/hostname noise.
 * Field names are part of the interface (README, `jq` recipes); add fields, do not rename them.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: isoTimeOncePerMillisecond,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? createLogDestination(),
  );
}

/**
 * stdout. Lines are gathered into 4 KiB writes (at most 250 ms late) and written synchronously:
 * one write per request, or a hop to libuv's thread pool per line, cost more CPU than serving
 * the policy. stop() flushes what is left.
 */
export function createLogDestination(): ReturnType<typeof pino.destination> {
  return pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: 250 });
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
