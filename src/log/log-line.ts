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

// Printable ASCII but the quote and the backslash: JSON.stringify would write the string as it is, in quotes.
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * JSON.stringify(text) for a log line's field: the common string, which needs no escape, without
 * the generic serialiser (about 0.14 µs a call, ten of them in a fetch line).
 */
export function jsonString(text: string | null): string {
  if (text === null) return 'null';
  return PLAIN_JSON_STRING.test(text) ? `"${text}"` : JSON.stringify(text);
}

/** ".001" to ".999" with trailing zeros dropped, "" for 0: the fraction of a count of microseconds written in milliseconds. */
const MILLISECOND_FRACTIONS = Array.from({ length: 1000 }, (_, micros) =>
  micros === 0 ? '' : `.${String(micros).padStart(3, '0').replace(/0+$/, '')}`,
);

/**
 * JSON.stringify(Math.round(ms * 1000) / 1000): a duration to the microsecond, its whole part
 * and fraction written from integers rather than by the shortest-decimal conversion of a double.
 */
export function jsonMilliseconds(ms: number): string {
  const micros = Math.round(ms * 1000);
  if (!(micros >= 0 && micros <= 0x7fffffff)) return JSON.stringify(micros / 1000);
  return `${Math.floor(micros / 1000)}${MILLISECOND_FRACTIONS[micros % 1000]}`;
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
