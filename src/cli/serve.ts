import type { DestinationStream } from 'pino';
import { createLogDestination, createLogger, UNBUFFERED, type LogBuffer } from '../log/logger.js';
import { StartError } from '../config/start-error.js';
import { Service } from '../service/service.js';
import { sizeHeapForServing } from './heap-sizing.js';

/** A stop must finish within this time; in-flight requests get until then. */
const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * `mta-sts-server serve`. Everything it says goes to the JSON log on stdout, a failed start too:
 * one `service_failed` line with the reason (and the setting to blame), exit 2 for an invalid
 * config and 1 otherwise. Once started, it runs until SIGTERM or SIGINT; SIGHUP reloads the
 * config and SIGUSR1 flushes the log.
 */
export async function serve(configPath: string, stdout: NodeJS.WritableStream): Promise<number> {
  // The process's own stdout gets the writer to fd 1, buffered as the config says; another
  // stream (a test's) is used as it is.
  const open = (buffer: LogBuffer) => (stdout === process.stdout ? createLogDestination(buffer) : stdout);
  let destination: DestinationStream | undefined;
  // SIGUSR1 writes out the lines log.buffer_bytes gathered, e.g. before a `kill -9`. Handled as
  // soon as serve runs, before the start: Node would take the signal to open its inspector on
  // 127.0.0.1:9229, where any local user could run code as the service. Until the service has
  // started there is no log to flush, and the signal is ignored.
  let started: Service | undefined;
  const flushLog = () => {
    if (!started) return;
    started.log.info({ event: 'log_flushed', signal: 'SIGUSR1' }, 'the log is written out up to this line');
    started.log.flush();
  };
  process.on('SIGUSR1', flushLog);
  let service: Service;
  try {
    service = await Service.start({ configPath, logDestination: (buffer) => (destination = open(buffer)) });
  } catch (error) {
    process.off('SIGUSR1', flushLog);
    const failure = error instanceof StartError ? error : unexpectedFailure(error);
    // After the service's lines, through the same destination, so that they stay in order; and
    // flushed. A start that failed before its config was read has none yet: stdout, unbuffered.
    const log = createLogger('info', destination ?? open(UNBUFFERED));
    log.error({ event: 'service_failed', reason: failure.message, ...failure.fields }, 'the service did not start');
    log.flush();
    return failure.exitCode;
  }

  started = service;
  // After the start, whose own garbage (the config, the policy set) must not set the cap's moment.
  const releaseHeapWatch = sizeHeapForServing();
  process.on('SIGHUP', () => {
    service.log.info({ event: 'reload_requested', signal: 'SIGHUP' }, 'reloading the config');
    void service.reload();
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      service.log.info({ event: 'shutdown_requested', signal }, 'finishing in-flight requests, then stopping');
      const deadline = setTimeout(() => {
        service.log.warn(
          { event: 'shutdown_forced' },
          `requests still open after ${SHUTDOWN_DEADLINE_MS / 1000} s; closing them`,
        );
        // Open sockets would keep the process alive: flush the log, then end it.
        service.log.flush(() => process.exit(0));
      }, SHUTDOWN_DEADLINE_MS - 500);
      deadline.unref();
      releaseHeapWatch();
      service.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** An error no part of the start turned into a reason: its message (and system error code), never its stack. */
function unexpectedFailure(error: unknown): StartError {
  const { message, code } = error as NodeJS.ErrnoException;
  return new StartError(message ?? String(error), code === undefined ? {} : { code });
}
