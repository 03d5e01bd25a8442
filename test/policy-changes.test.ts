import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { cliInProcess } from './support/cli.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig } from './support/service.js';

// A sender refetches the policy only when the _mta-sts TXT id changes (RFC 8461 §3.1). A change
// of the mx list alone (the common edit: a new MX host) must therefore give a new id, or senders
// keep enforcing the old list and mail to the new host fails.

const configWithMx = (mx: string[]) =>
  `domains:\n  example.com: { mode: enforce, max_age: 604800, mx: [${mx.join(', ')}] }\n${LOOPBACK_LISTEN}`;

test('an mx-only change through a hot reload: a new policy id in config_reloaded, and the new body served', async () => {
  const running = await startTestService(configWithMx(['mx1.example.com']));
  try {
    const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
    const before = running.service.currentPolicies.forHost('mta-sts.example.com')!.id;
    await writeFile(`${running.configPath}.new`, configWithMx(['mx1.example.com', 'mx2.example.com']));
    await rename(`${running.configPath}.new`, running.configPath);
    await running.service.reload();
    const [reloaded] = running.log.events('config_reloaded');
    const changed = reloaded!.changed as { domain: string; policy_id: string; mx_added: string[] }[];
    assert.equal(changed.length, 1);
    assert.equal(changed[0]!.domain, 'example.com');
    assert.deepEqual(changed[0]!.mx_added, ['mx2.example.com']);
    assert.notEqual(changed[0]!.policy_id, before);
    assert.match(changed[0]!.policy_id, /^[0-9a-f]{24}$/);
    assert.deepEqual(reloaded!.publish, [
      `_mta-sts.example.com.                    3600 IN TXT   "v=STSv1; id=${changed[0]!.policy_id}"`,
    ]);
    assert.deepEqual(await fetchPolicy({ port: running.httpsPort, host: 'mta-sts.example.com', ca }), {
      status: 200,
      body: 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmax_age: 604800\r\n',
    });
  } finally {
    await running.service.stop();
  }
});

test('an mx-only change through `mta-sts-server dns`: a new TXT id; the same policy keeps its id', async () => {
  const txtIdOf = async (mx: string[]) => {
    const { configPath } = await writeTestConfig(configWithMx(mx));
    const result = await cliInProcess(['dns', '--config', configPath, '--domain', 'example.com']);
    assert.equal(result.code, 0, result.stderr);
    const id = /"v=STSv1; id=([0-9a-f]+)"/.exec(result.stdout)?.[1];
    assert.ok(id, result.stdout);
    return id;
  };
  const first = await txtIdOf(['mx1.example.com']);
  assert.equal(await txtIdOf(['mx1.example.com']), first, 'the id is derived from the policy, not random');
  assert.notEqual(await txtIdOf(['mx1.example.com', 'mx2.example.com']), first);
  assert.notEqual(await txtIdOf(['mx2.example.com']), first);
  assert.notEqual(await txtIdOf(['"*.example.com"']), first);
});
