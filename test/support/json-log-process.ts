import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { endsWithThisProcess } from './children.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** `mta-sts-server serve` as its own process, the way it runs in production. */
export function serveProcess(configPath: string): JsonLogProcess {
  return new JsonLogProcess(spawn(process.execPath, [MAIN, 'serve', '--config', configPath], { stdio: 'pipe' }));
}

/** The service run as its own process, and its log: pino JSON lines on stdout. */
export class JsonLogProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private ended = false;

  constructor(readonly child: ChildProcess) {
    endsWithThisProcess(child);
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.ended = true;
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return !this.ended;
  }

  /** SIGKILL if it still runs; resolves once it has exited. For clean-up after a failed test. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** The first line, logged already or to come, that matches; fails when the process exits first or time runs out. */
  async waitFor(
    what: string,
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.ended) throw new Error(`the process exited before logging ${what}; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${what} log line within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await sleep(20);
    }
  }

  waitForEvent(event: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return this.waitFor(event, (line) => line.event === event, timeoutMs);
  }
}
