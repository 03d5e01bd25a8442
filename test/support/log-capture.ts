import { Writable } from 'node:stream';

/** Collects the service's JSON log lines so tests can assert on them. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  private waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const text of chunk.toString('utf8').split('\n')) {
      if (text.trim() === '') continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      this.lines.push(line);
      this.waiters = this.waiters.filter((waiter) => !(waiter.match(line) && (waiter.resolve(line), true)));
    }
    done();
  }

  events(event: string): Record<string, unknown>[] {
    return this.lines.filter((line) => line.event === event);
  }

  /** Resolves with the first line (already seen or future) that matches; rejects after `timeoutMs`. */
  waitFor(match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  }
}
