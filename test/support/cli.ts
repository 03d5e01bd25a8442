import { spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run.js';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** What a command line gave back: its exit status and everything it wrote. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliInput {
  /** Variables over an environment without MTA_STS_CONFIG. */
  env?: NodeJS.ProcessEnv;
  stdin?: string;
}

/** A stream that keeps what is written to it, as text; `onText` sees each write. */
export class TextSink extends Writable {
  text = '';

  constructor(private readonly onText: (text: string) => void = () => undefined) {
    super();
  }

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    const text = chunk.toString('utf8');
    this.text += text;
    this.onText(text);
    done();
  }
}

/**
 * `mta-sts-server ARGS` in this process: the dispatcher main.js runs, on streams of the test's
 * own. A fraction of a process start-up; what only a process shows (its exit status, that
 * nothing else reaches stderr, signals) is tested with cliProcess.
 */
export async function cliInProcess(
  args: string[],
  { env = {}, stdin = '' }: Omit<CliInput, 'stdin'> & { stdin?: string | Readable } = {},
): Promise<CliResult> {
  const stdout = new TextSink();
  const stderr = new TextSink();
  const input = typeof stdin === 'string' ? Readable.from(stdin === '' ? [] : [stdin]) : stdin;
  const code = await runCli(args, { stdin: input, stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** `mta-sts-server ARGS` as its own process, as a user runs it. */
export function cliProcess(args: string[], { env = {}, stdin = '' }: CliInput = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, MTA_STS_CONFIG: undefined, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
