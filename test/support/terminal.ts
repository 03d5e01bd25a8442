import { spawnSync } from 'node:child_process';

/**
 * Runs a shell command with a pseudo-terminal as its stdout, as an admin's shell would: `script`,
 * whose util-linux (Linux) and BSD (macOS) versions take the command differently. Its output with
 * CRLF line ends made LF, and its exit status.
 */
export function runOnTerminal(command: string): { status: number | null; screen: string; stderr: string } {
  const args = process.platform === 'linux' ? ['-q', '-c', command, '/dev/null'] : ['-q', '/dev/null', 'sh', '-c', command];
  const result = spawnSync('script', args, { encoding: 'utf8' });
  return { status: result.status, screen: result.stdout.replace(/\r\n/g, '\n'), stderr: result.stderr };
}
