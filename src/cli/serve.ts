import { ConfigError, Service } from '../service/service.js';

/** A stop must finish within this time; in-flight requests get until then. */
const SHUTDOWN_DEADLINE_MS = 10_000;

export async function serve(configPath: string, err: NodeJS.WritableStream): Promise<number> {
  let service: Service;
  try {
    service = await Service.start({ configPath });
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) err.write(`${problem}\n`);
      return 2;
    }
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'EACCES')
      err.write(`cannot listen: ${message}; ports below 1024 need root or CAP_NET_BIND_SERVICE (the container has it)\n`);
    else if (code === 'EADDRINUSE') err.write(`cannot listen: ${message}; another program uses the port\n`);
    else err.write(`cannot start: ${(error as Error).stack ?? message}\n`);
    return 1;
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
