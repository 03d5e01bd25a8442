import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ServiceMetrics } from '../src/metrics/service-metrics.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { buildAdminApp } from '../src/server/admin-app.js';
import { buildApp } from '../src/server/app.js';
import { createLogger } from '../src/log/logger.js';
import { scrape } from './support/metrics.js';
import { trickle } from './support/raw-client.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig } from './support/service.js';
import { serveUntilExit, theFailure } from './support/start-failure.js';
import { DOMAINS, EMPTY, exposed, TOKEN, TOO_SHORT } from './support/admin-exposure.js';

// The admin listener shows every hosted domain, its policy id and certificate expiry: it may be
// reachable from other machines only behind a token, and holds slow clients no longer than the
// policy listeners do.

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** Loopback policy listeners, the admin listener as the test writes it. */
const LISTEN = LOOPBACK_LISTEN.replace('admin: { port: 0 }\n', '');

/** `check-config` run as a user runs it, with only `env` as the admin token's environment. */
function checkConfig(configPath: string, token: string | undefined) {
  const result = spawnSync(process.execPath, [MAIN, 'check-config', '--config', configPath], {
    encoding: 'utf8',
    env: { ...process.env, MTA_STS_CONFIG: undefined, MTA_STS_ADMIN_TOKEN: token },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('check-config and serve refuse an exposed admin listener and a short or empty MTA_STS_ADMIN_TOKEN (exit 2)', async () => {
  const { configPath } = await writeTestConfig(`${DOMAINS}${LISTEN}admin: { address: "::", port: 0 }\n`);
  const secret = 'sh0rt-s3cret';
  for (const [token, error] of [
    [undefined, `${configPath}:6:19 admin.address: ${exposed('::')}`],
    [secret, TOO_SHORT],
    ['', EMPTY],
  ] as const) {
    assert.deepEqual(checkConfig(configPath, token), {
      code: 2,
      stdout: '',
      stderr: `${error}\n${configPath}: 1 problem; nothing was changed\n`,
    });
    const run = serveUntilExit(configPath, [], { ...process.env, MTA_STS_ADMIN_TOKEN: token });
    assert.equal(run.code, 2);
    assert.deepEqual(theFailure(run).errors, [error]);
    assert.doesNotMatch(JSON.stringify(run.lines), new RegExp(secret));
  }
  assert.deepEqual(checkConfig(configPath, TOKEN), { code: 0, stdout: `${configPath}: ok, 1 domain\n`, stderr: '' });
});

test('an admin listener on "::" with a token: /metrics answers 401 without it and the metrics with it', async () => {
  const running = await startTestService(`${DOMAINS}${LISTEN}admin: { address: "::", port: 0, token: ${TOKEN} }\n`, { env: {} });
  try {
    const port = running.service.listeners.adminAddress!.port;
    assert.equal((await scrape(port)).status, 401);
    const { status, body } = await scrape(port, TOKEN);
    assert.equal(status, 200);
    assert.match(body, /^mta_sts_policy_info\{domain="example\.com",policy_id="[0-9a-f]{24}",mode="none"\} 1$/m);
  } finally {
    await running.service.stop();
  }
});

test('a reload that would expose the admin listener without a token is rejected; the last good config stays', async () => {
  const running = await startTestService(`${DOMAINS}${LOOPBACK_LISTEN}`, { env: {} });
  try {
    await writeFile(running.configPath, `${DOMAINS}${LISTEN}admin: { address: "::", port: 0 }\n`);
    const rejected = await running.log.waitFor((line) => line.event === 'config_invalid');
    assert.deepEqual(rejected.errors, [`${running.configPath}:6:19 admin.address: ${exposed('::')}`]);
    assert.equal(running.service.listeners.adminAddress!.address, '127.0.0.1');
  } finally {
    await running.service.stop();
  }
});

test('a client trickling its headers to the admin port is cut off at the same deadline as on the policy listeners', async () => {
  const limits = { headersTimeoutMs: 2_000, inactivityTimeoutMs: 1_000 };
  const running = await startTestService(`${DOMAINS}${LOOPBACK_LISTEN}`, {
    connectionLimits: limits,
    env: { MTA_STS_ADMIN_TOKEN: TOKEN },
  });
  try {
    // One byte every 300 ms, within the inactivity timeout: sent whole, the request would take 20 s.
    const request = `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;
    const slowClient = async (port: number) => {
      const socket = connect({ host: '127.0.0.1', port });
      await once(socket, 'connect');
      return trickle(socket, request, 300);
    };
    const [policy, admin] = await Promise.all([
      slowClient(running.httpPort),
      slowClient(running.service.listeners.adminAddress!.port),
    ]);
    for (const [listener, cut] of Object.entries({ policy, admin })) {
      assert.ok(cut.sent < request.length, `${listener}: the whole request went through in ${cut.elapsedMs} ms`);
      assert.match(cut.response, /^HTTP\/1\.1 408 /, listener);
    }
    // Node checks the deadline once a second: the two cuts are within one check of each other.
    assert.ok(Math.abs(admin.elapsedMs - policy.elapsedMs) < 1_500, `admin ${admin.elapsedMs} ms, policy ${policy.elapsedMs} ms`);
  } finally {
    await running.service.stop();
  }
});

test("by default the admin listener has the policy listeners' timeouts", async () => {
  const logger = createLogger('silent');
  const policies = new PolicySet([]);
  const admin = await buildAdminApp({
    logger,
    metrics: new ServiceMetrics({ policies: () => policies, certificateFor: () => undefined }),
    token: undefined,
  });
  const policy = await buildApp({
    logger,
    policies: () => policies,
    readiness: () => ({ ready: true, hostsWithoutCertificate: 0 }),
    trustProxy: () => false,
    listener: 'https',
    recordFetch: () => undefined,
  });
  const limitsOf = ({ server }: typeof admin) => {
    const { headersTimeout, requestTimeout, keepAliveTimeout, timeout } = server;
    return { headersTimeout, requestTimeout, keepAliveTimeout, timeout };
  };
  assert.deepEqual(limitsOf(admin), limitsOf(policy));
  await Promise.all([admin.close(), policy.close()]);
});
