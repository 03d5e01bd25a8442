import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeTestConfig } from '../support/service.js';
import { assertStateDirProblem, serveUntilExit, theFailure } from '../support/start-failure.js';

/*
 * Start failures that only a user without privileges meets: each runs `serve` in a user namespace
 * without a uid mapping (Linux; unshare from util-linux, and user namespaces open to the user),
 * where root is refused too. The hermetic ones are in test/start-failure.test.ts.
 */
const WITHOUT_PRIVILEGES = ['--user'];

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
