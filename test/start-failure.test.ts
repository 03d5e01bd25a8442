import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeTestConfig } from './support/service.js';
import { assertStateDirProblem, serveInThisProcess, serveUntilExit, theFailure } from './support/start-failure.js';

// An invalid config and a port in use at listen.https are started as the process a user runs;
// the other failures, whose exit and output go the same way, in this process (support/start-failure.ts).

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
      const run = setting === 'listen.https' ? serveUntilExit(configPath) : await serveInThisProcess(configPath);
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
  assertStateDirProblem(await serveInThisProcess(configPath), stateDir, 'ENOTDIR', 'part of the path is a file, not a folder');
});

test('serve: a state database that is not one is named in the failure: without the policy history, retiring domains would be dropped', async () => {
  const { dir, configPath } = await writeTestConfig(
    'domains:\n  example.com: { mode: none }\nlisten: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { enabled: false }\n' +
      'state_dir: state\n',
  );
  const database = join(dir, 'state', 'mta-sts.db');
  await mkdir(join(dir, 'state'));
  await writeFile(database, 'not a database, but long enough to hold a header of one: '.repeat(20));
  const run = await serveInThisProcess(configPath);
  assert.equal(run.code, 1);
  const failure = theFailure(run);
  assert.deepEqual([failure.setting, failure.path, failure.code], ['state_dir', database, 'SQLITE_NOTADB']);
  assert.equal(
    failure.reason,
    `the policy history in ${database} cannot be opened (file is not a database); the service does not start without it, since it would drop the domains it is retiring`,
  );
});
