import { createLogDestination, createLogger } from '../log/logger.js';
import { StartError } from '../config/start-error.js';
import { Service } from '../service/service.js';

/** A stop must finish within this time; in-flight requests get until then. */
const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * `mta-sts-server serve`. Everything it says goes to the JSON log on stdout, a failed start too:
 * one `service_failed` line with the reason (and the setting to blame), exit 2 for an invalid
 * config and 1 otherwise. Once started, it runs until SIGTERM or SIGINT.
 */
export async function serve(configPath: string, stdout: NodeJS.WritableStream): Promise<number> {
  // One destination for the service's lines and the failure line, so that they stay in order:
  // the buffered writer to fd 1 for the process's own stdout; another stream (a test's) as it is.
  const buffered = stdout === process.stdout ? createLogDestination() : undefined;
  const destination = buffered ?? stdout;
  let service: Service;
  try {
    service = await Service.start({ configPath, logDestination: destination });
  } catch (error) {
    const failure = error instanceof StartError ? error : unexpectedFailure(error);
    createLogger('info', destination).error(
      { event: 'service_failed', reason: failure.message, ...failure.fields },
      'the service did not start',
    );
    buffered?.flushSync();
    return failure.exitCode;
  }

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
