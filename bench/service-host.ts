/**
 * Child process: the real service, started through Service.start from a config file.
 *
 * argv[2] is JSON `{ configPath, tapLog?, providersFile? }`. Without `tapLog` the service logs as
 * in production: its own pino destination on stdout, which the parent points at a file. With
 * `tapLog` (scale runs) log lines go to that file through a tap that notices `config_reloaded`.
 * `providersFile` replaces the shipped provider list (ServiceOptions.providersFile).
 */
import { rename, writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino, { type DestinationStream } from 'pino';
import { sizeHeapForServing } from '../src/cli/heap-sizing.js';
import { Service } from '../src/service/service.js';
import { serveControl } from './server-control.js';

interface HostOptions {
  configPath: string;
  tapLog?: string;
  providersFile?: string;
}

const RELOAD_DEADLINE_MS = 30_000;
const STALL_RESOLUTION_MS = 5;

/** Forwards every line to a file and resolves waiters when a line with a given event passes. */
class LogTap implements DestinationStream {
  private readonly file;
  private readonly waiters = new Map<string, (at: number) => void>();

  constructor(path: string) {
    this.file = pino.destination({ dest: path, sync: false, minLength: 0 });
  }

  write(line: string): void {
    this.file.write(line);
    for (const [event, resolve] of this.waiters) {
      if (line.includes(`"event":"${event}"`)) {
        this.waiters.delete(event);
        resolve(performance.now());
      }
    }
  }

  /** When the next line with `event` was written; call before causing the event, so that a line logged synchronously is not missed. */
  next(event: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${event} log line within ${RELOAD_DEADLINE_MS} ms`)),
        RELOAD_DEADLINE_MS,
      );
      this.waiters.set(event, (at) => (clearTimeout(timer), resolve(at)));
    });
  }
}

const options = JSON.parse(process.argv[2]!) as HostOptions;
const tap = options.tapLog === undefined ? undefined : new LogTap(options.tapLog);
const started = performance.now();
const service = await Service.start({
  configPath: options.configPath,
  ...(tap && { logDestination: tap }),
  ...(options.providersFile !== undefined && { providersFile: options.providersFile }),
});
const startMs = performance.now() - started;
// As `serve` does once started, so that memory is measured as deployed.
sizeHeapForServing();

serveControl({
  port: service.listeners.httpsAddress.port,
  startMs,
  stop: () => service.stop(),
  async reload(text) {
    if (!tap) throw new Error('reload timing needs tapLog');
    // The event-loop delay while the reload runs is how long requests could not be served.
    const stalls = monitorEventLoopDelay({ resolution: STALL_RESOLUTION_MS });
    stalls.enable();
    const reloaded = tap.next('config_reloaded');
    // Written beside the file and renamed over it, as editors and config management do, so the
    // watcher never sees half a file.
    const staging = `${options.configPath}.next`;
    await writeFile(staging, text);
    // Timed from the rename, to the log line: a reload may be done before the rename's callback runs.
    const written = performance.now();
    await rename(staging, options.configPath);
    const reloadMs = (await reloaded) - written;
    // A reload that blocks the loop is only recorded when the monitor's timer fires after it;
    // this code resumes in a microtask before that, so give the timer its turn first.
    await new Promise((resolve) => setTimeout(resolve, STALL_RESOLUTION_MS * 4));
    stalls.disable();
    // Certificates for added hosts are prepared after the reload, in the background.
    while (!service.listeners.readiness().ready) {
      if (performance.now() - written > RELOAD_DEADLINE_MS) throw new Error('added hosts got no certificate');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return {
      type: 'reloaded',
      reloadMs,
      maxStallMs: stalls.max / 1e6,
      newHostsReadyMs: performance.now() - written,
    };
  },
});
