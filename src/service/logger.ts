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
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Key material must never reach the log, even if an object holding it is logged by mistake.
      redact: { paths: ['*.key', '*.pem', '*.privateKey', 'key', 'pem'], censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 0 }),
  );
}
