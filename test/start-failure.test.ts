import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeTestConfig } from './support/service.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/**
 * `mta-sts-server serve` run to its end: exit status, the JSON lines on stdout, and stderr.
 * With `unshare` options, in new namespaces (see WITHOUT_PRIVILEGES).
 */
function serveUntilExit(configPath: string, unshare: string[] = []) {
  const serve = [process.execPath, MAIN, 'serve', '--config', configPath];
  const [file, ...args] = unshare.length > 0 ? ['unshare', ...unshare, ...serve] : serve;
  const result = spawnSync(file!, args, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.signal, null, 'serve did not exit on its own');
  return { code: result.status, lines: jsonLines(result.stdout), stderr: result.stderr };
}

/**
 * A new user namespace without a uid mapping: there every capability is gone, root's too, so the
 * kernel refuses what the file modes refuse an ordinary user; and anyone who can make the
 * namespace can run the test, root or not.
 */
const WITHOUT_PRIVILEGES = ['--user'];

const jsonLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** The one service_failed line, last, with nothing else said about the failure. */
function theFailure(run: ReturnType<typeof serveUntilExit>): Record<string, unknown> {
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
function assertStateDirProblem(run: ReturnType<typeof serveUntilExit>, stateDir: string, code: string, problem: string): void {
  assert.equal(run.code, 1);
  const failure = theFailure(run);
  assert.deepEqual([failure.setting, failure.path, failure.code], ['state_dir', stateDir, code]);
  const need = "it must be a folder the service's user \\(uid \\d+\\) can write to";
  assert.match(String(failure.reason), new RegExp(`^state_dir ${stateDir}: ${problem}; ${need}$`));
  // Nothing was opened before the state directory was checked: no statistics, no certificates.
  assert.equal(run.lines.length, 1, JSON.stringify(run.lines));
}

function listenOnLoopback(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

test('serve: an invalid config is one service_failed line with the located errors, exit 2, nothing on stderr', async () => {
  const { configPath } = await writeTestConfig('domains:\n  example.com: { mode: enforce }\n  bad..example: { mode: none }\n');
  const run = serveUntilExit(configPath);
  assert.equal(run.code, 2);
  assert.equal(run.lines.length, 1);
  const { time, errors, ...failure } = theFailure(run);
  assert.deepEqual(failure, {
    level: 'error',
    event: 'service_failed',
    reason: 'the config has 2 problems; nothing was started',
    msg: 'the service did not start',
  });
  // Located as check-config locates them (their wording belongs to the config's own tests).
  assert.deepEqual(
    (errors as string[]).map((error) => error.slice(0, error.indexOf(': '))),
    [`${configPath}:2:3 domains.example.com`, `${configPath}:3:3 domains.bad..example`],
  );
});

for (const setting of ['listen.https', 'listen.http', 'admin.port'] as const) {
  test(`serve: a port in use at ${setting} is named, with address and port; no listener is announced`, async () => {
    const busy = await listenOnLoopback();
    const port = (busy.address() as AddressInfo).port;
    const ports = { 'listen.https': 0, 'listen.http': 0, 'admin.port': 0, [setting]: port };
    const { configPath } = await writeTestConfig(
      `domains:\n  example.com: { mode: none }\n` +
        `listen: { address: 127.0.0.1, https: ${ports['listen.https']}, http: ${ports['listen.http']} }\n` +
        `admin: { address: 127.0.0.1, port: ${ports['admin.port']} }\n` +
        'reverse_dns: { enabled: false }\nstate_dir: state\n',
    );
    try {
      const run = serveUntilExit(configPath);
      assert.equal(run.code, 1);
      const failure = theFailure(run);
      assert.equal(failure.reason, `${setting}: cannot listen on 127.0.0.1:${port}: another program uses port ${port}`);
      assert.deepEqual(
        [failure.setting, failure.address, failure.port, failure.code],
        [setting, '127.0.0.1', port, 'EADDRINUSE'],
      );
      assert.ok(!run.lines.some((line) => line.event === 'service_started'));
    } finally {
      busy.close();
    }
  });
}

test('serve: a state_dir that cannot be a folder (a file in its path) is a state_dir problem, not a port problem', async () => {
  const { dir, configPath } = await writeTestConfig(
    'domains:\n  example.com: { mode: none }\nlisten: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { port: 0 }\n' +
      'state_dir: not-a-folder/state\n',
  );
  await writeFile(join(dir, 'not-a-folder'), 'a regular file\n');
  const stateDir = join(dir, 'not-a-folder', 'state');
  assertStateDirProblem(serveUntilExit(configPath), stateDir, 'ENOTDIR', 'part of the path is a file, not a folder');
});

test('serve: a state_dir the user cannot write to (EACCES) is a state_dir problem, with what it needs', async () => {
  const { dir, configPath } = await writeTestConfig(
    'domains:\n  example.com: { mode: none }\nlisten: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { port: 0 }\nstate_dir: state\n',
  );
  const stateDir = join(dir, 'state');
  await mkdir(stateDir, { mode: 0o555 });
  assertStateDirProblem(serveUntilExit(configPath, WITHOUT_PRIVILEGES), stateDir, 'EACCES', 'permission denied');
});

test('serve: a port below 1024 this user may not bind names the setting and what it needs', async () => {
  const { configPath } = await writeTestConfig(
    'domains:\n  example.com: { mode: none }\nlisten: { address: 127.0.0.1, https: 443, http: 0 }\nadmin: { port: 0 }\n' +
      'reverse_dns: { enabled: false }\nstate_dir: state\n',
  );
  // A new network namespace has the kernel's default net.ipv4.ip_unprivileged_port_start, 1024.
  const run = serveUntilExit(configPath, [...WITHOUT_PRIVILEGES, '--net']);
  assert.equal(run.code, 1, run.stderr);
  const failure = theFailure(run);
  assert.deepEqual([failure.setting, failure.address, failure.port, failure.code], ['listen.https', '127.0.0.1', 443, 'EACCES']);
  assert.equal(
    failure.reason,
    'listen.https: not permitted to listen on 127.0.0.1:443; ports below 1024 need root, CAP_NET_BIND_SERVICE or a lower ' +
      'net.ipv4.ip_unprivileged_port_start (Docker sets 0), or choose a port above 1023',
  );
});
