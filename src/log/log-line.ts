import type { DestinationStream, Logger } from 'pino';

// Without pino itself: the fetch log, which writes through infoLineWriter, is part of commands
// that log nothing (`providers refresh` loads the provider list through it), and they must not load pino.

/** The destination of each logger createLogger made (src/log/logger.ts). */
const destinations = new WeakMap<Logger, DestinationStream>();

export function writesTo(logger: Logger, destination: DestinationStream): void {
  destinations.set(logger, destination);
}

let lastMillisecond = 0;
let lastTimestamp = '';

/** pino's isoTime, formatted once per millisecond rather than once per line: under load many lines share one. */
export function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTimestamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTimestamp;
}

/**
 * Writes `log.info(fields)` as pino would, from the fields' JSON text (`"key":value,...`, no
 * braces), for the line logged per request (src/fetches/fetch-log.ts): pino's generic
 * serialisation of a 13-field object costs more than the policy answer's own JavaScript.
 * `log` is a logger createLogger made (not a child: it would have bindings to write first);
 * test/fetch-line.test.ts holds the two to the same bytes.
 */
export function infoLineWriter(log: Logger): (fieldsJson: string) => void {
  const destination = destinations.get(log);
  if (!destination) throw new Error('infoLineWriter needs a logger made by createLogger');
  return (fieldsJson) => {
    // Asked per line: a reload may change the level.
    if (!log.isLevelEnabled('info')) return;
    destination.write(`{"level":"info"${isoTimeOncePerMillisecond()},${fieldsJson}}\n`);
  };
}
