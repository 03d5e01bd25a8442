import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fetchPolicy } from './support/fetch-policy.js';
import { samples, scrape } from './support/metrics.js';
import { LOOPBACK_LISTEN, startTestService } from './support/service.js';

const TOKEN = 'metrics-token-0123456789';

test('metrics on the admin listener: fetches by domain/provider/status, policy ids, certificate expiry, reloads, process', async () => {
  const config = `
domains:
  example.com: { mode: enforce, mx: [mail.example.com] }
  example.org: { mode: none }
trust_proxy: [127.0.0.1]
${LOOPBACK_LISTEN}`;
  const running = await startTestService(config, { env: { MTA_STS_ADMIN_TOKEN: TOKEN } });
  try {
    const adminPort = running.service.listeners.adminAddress!.port;
    assert.equal(running.service.listeners.adminAddress!.address, '127.0.0.1');
    assert.equal((await scrape(adminPort)).status, 401);
    assert.equal((await scrape(adminPort, 'wrong-token-0123456789x')).status, 401);

    const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
    // Through the trusted proxy, so the forwarded Microsoft address is attributed.
    for (let i = 0; i < 2; i++) {
      await fetchPolicy({
        port: running.httpsPort,
        host: 'mta-sts.example.com',
        ca,
        headers: { 'x-forwarded-for': '104.47.20.1' },
      });
    }
    await fetchPolicy({ port: running.httpsPort, host: 'mta-sts.example.org', ca });

    await rename(running.configPath, `${running.configPath}.good`);
    await writeFile(running.configPath, 'domains: { example.com: { mode: enforced } }\n');
    await running.log.waitFor((line) => line.event === 'config_invalid');

    const { status, body } = await scrape(adminPort, TOKEN);
    assert.equal(status, 200);
    assert.deepEqual(
      samples(body, 'mta_sts_policy_fetches_total').sort((a, b) => a.labels.domain!.localeCompare(b.labels.domain!)),
      [
        { labels: { domain: 'example.com', provider: 'microsoft', status: '200' }, value: 2 },
        { labels: { domain: 'example.org', provider: 'unknown', status: '200' }, value: 1 },
      ],
    );
    const ids = samples(body, 'mta_sts_policy_info').map(({ labels }) => [labels.domain, labels.policy_id, labels.mode]);
    assert.deepEqual(ids.sort(), [
      ['example.com', running.service.currentPolicies.forHost('mta-sts.example.com')!.id, 'enforce'],
      ['example.org', running.service.currentPolicies.forHost('mta-sts.example.org')!.id, 'none'],
    ]);
    const expiry = samples(body, 'mta_sts_certificate_not_after_seconds');
    assert.deepEqual(expiry.map(({ labels }) => labels.host).sort(), ['mta-sts.example.com', 'mta-sts.example.org']);
    assert.ok(expiry.every(({ value }) => value > Date.now() / 1000 + 300 * 86_400));
    assert.deepEqual(samples(body, 'mta_sts_config_reloads_total'), [{ labels: { result: 'rejected' }, value: 1 }]);
    assert.equal(samples(body, 'mta_sts_process_cpu_seconds_total').length, 1);
  } finally {
    await running.service.stop();
  }
});

test('the admin listener can be turned off', async () => {
  const running = await startTestService(
    `domains: { example.com: { mode: none } }\n${LOOPBACK_LISTEN.replace('admin: { port: 0 }', 'admin: { enabled: false }')}`,
  );
  try {
    assert.equal(running.service.listeners.adminAddress, undefined);
  } finally {
    await running.service.stop();
  }
});
