import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/run.js';
import { MAIN, TextSink } from './cli.js';

export interface ServeRun {
  code: number | null;
  /** The JSON lines on stdout. */
  lines: Record<string, unknown>[];
  stderr: string;
}

/**
 * `mta-sts-server serve` run to its end. With `unshare` options, in new namespaces:
 * `['--user']` is a user namespace without a uid mapping, where every capability is gone, root's
 * too, so the kernel refuses what file modes and net.ipv4.ip_unprivileged_port_start refuse an
 * ordinary user; anyone who can make the namespace can run such a test, root or not.
 */
export function serveUntilExit(configPath: string, unshare: string[] = [], env: NodeJS.ProcessEnv = process.env): ServeRun {
  const serve = [process.execPath, MAIN, 'serve', '--config', configPath];
  const [file, ...args] = unshare.length > 0 ? ['unshare', ...unshare, ...serve] : serve;
  const result = spawnSync(file!, args, { encoding: 'utf8', timeout: 30_000, env });
  assert.equal(result.signal, null, 'serve did not exit on its own');
  return { code: result.status, lines: jsonLines(result.stdout), stderr: result.stderr };
}

/**
 * `mta-sts-server serve` in this process, through the dispatcher main.js runs, to its end: for
 * starts that fail, a fraction of a process start-up each. Should the service start after all,
 * it is stopped as SIGTERM stops it (exit 0), so that the test fails rather than waits.
 */
export async function serveInThisProcess(configPath: string): Promise<ServeRun> {
  let stopping: NodeJS.Timeout | undefined;
  const stdout = new TextSink((text) => {
    // serve listens for SIGTERM only once the start is over: ask until it does.
    if (text.includes('"event":"service_started"')) stopping = setInterval(() => process.emit('SIGTERM'), 50);
  });
  const stderr = new TextSink();
  try {
    const code = await runCli(['serve', '--config', configPath], { stdin: Readable.from([]), stdout, stderr, env: {} });
    return { code, lines: jsonLines(stdout.text), stderr: stderr.text };
  } finally {
    clearInterval(stopping);
  }
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** The one service_failed line, last, with nothing else said about the failure: no stack, no listener announced. */
export function theFailure(run: ServeRun): Record<string, unknown> {
  assert.equal(run.stderr, '');
  const failed = run.lines.filter((line) => line.event === 'service_failed');
  assert.equal(failed.length, 1, JSON.stringify(run.lines));
  assert.equal(run.lines.at(-1), failed[0]);
  const failure = failed[0]!;
  assert.equal(failure.level, 'error');
  assert.match(String(failure.time), /^\d{4}-\d\d-\d\dT/);
  for (const line of run.lines) assert.doesNotMatch(JSON.stringify(line), /listen(?:er|ing) at|stack|    at /);
  return failure;
}

/** The one failure line names state_dir, the folder, the system's error and what the folder must be. */
export function assertStateDirProblem(run: ServeRun, stateDir: string, code: string, problem: string): void {
  assert.equal(run.code, 1);
  const failure = theFailure(run);
  assert.deepEqual([failure.setting, failure.path, failure.code], ['state_dir', stateDir, code]);
  const need = "it must be a folder the service's user \\(uid \\d+\\) can write to";
  assert.match(String(failure.reason), new RegExp(`^state_dir ${stateDir}: ${problem}; ${need}$`));
  // Nothing was opened before the state directory was checked: no statistics, no certificates.
  assert.equal(run.lines.length, 1, JSON.stringify(run.lines));
}
