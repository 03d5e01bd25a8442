import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Every child still running, so that an interrupted or crashed bench leaves none behind. */
const running = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

export interface ForkOptions {
  /** A file descriptor for the child's stdout (the service writes its log there); inherited otherwise. */
  stdout?: number;
}

/**
 * A child process running one of the bench modules (compiled next to this file), driven over IPC.
 * Reports are queued until asked for, so none is lost between two awaits; every wait has a deadline.
 */
export class Child<Command, Report extends { type: string }> {
  private readonly process: ChildProcess;
  private readonly inbox: Report[] = [];
  private readonly waiters = new Set<{ type: string; resolve: (report: Report) => void; reject: (error: Error) => void }>();
  private exitReason: string | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    module: string,
    args: string[],
    options: ForkOptions = {},
  ) {
    const path = fileURLToPath(new URL(`./${module}.js`, import.meta.url));
    const child = fork(path, args, {
      stdio: ['ignore', options.stdout ?? 'inherit', 'inherit', 'ipc'],
      // Not the parent's flags: a profiler or inspector started on the bench must not multiply into every child.
      execArgv: [],
    });
    running.add(child);
    this.process = child;
    child.on('message', (report: Report) => this.deliver(report));
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        this.exitReason = `${name} exited (${signal ?? `code ${code}`})`;
        for (const waiter of this.waiters) waiter.reject(new Error(`${this.exitReason} while waiting for ${waiter.type}`));
        this.waiters.clear();
        resolve();
      });
    });
  }

  send(command: Command): void {
    this.process.send(command as object);
  }

  /** The next report of this type (possibly one that already arrived). */
  next<Type extends Report['type']>(type: Type, timeoutMs: number): Promise<Extract<Report, { type: Type }>> {
    const queued = this.inbox.findIndex((report) => report.type === type);
    if (queued >= 0) return Promise.resolve(this.inbox.splice(queued, 1)[0] as Extract<Report, { type: Type }>);
    if (this.exitReason) return Promise.reject(new Error(`${this.exitReason} before sending ${type}`));
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (report: Report) => {
          clearTimeout(timer);
          resolve(report as Extract<Report, { type: Type }>);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name}: no ${type} report within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Sends a request and waits for the report it answers with. */
  ask<Type extends Report['type']>(command: Command, type: Type, timeoutMs: number): Promise<Extract<Report, { type: Type }>> {
    const answer = this.next(type, timeoutMs);
    this.send(command);
    return answer;
  }

  /** Waits for the child to exit on its own, killing it after `timeoutMs`. */
  async exit(timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  private deliver(report: Report): void {
    for (const waiter of this.waiters) {
      if (waiter.type === report.type) {
        this.waiters.delete(waiter);
        waiter.resolve(report);
        return;
      }
    }
    this.inbox.push(report);
  }
}
