import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { TestDnsServer } from './support/dns-server.js';
import { samples, scrape } from './support/metrics.js';
import { freePorts } from './support/ports.js';
import { selfCheckAt, servedIds, startTestMx, writePolicyCertificate } from './support/check-setup.js';
import { startTestServiceAt, writeTestConfig } from './support/service.js';
import { TestCa } from './support/test-ca.js';

// The self-check of `serve`, end to end on loopback: the real service, the tests' DNS server,
// two real SMTP servers with STARTTLS (certificates from a test CA), and the admin metrics.

const domainsYaml = (mode: string, mx: string[]) => `domains:\n  example.com: { mode: ${mode}, mx: [${mx.join(', ')}] }\n`;

test('serve checks its domains: status changes logged once, gauges scraped, a reload that makes things worse called out', async (t) => {
  const ca = await TestCa.create();
  const dns = await TestDnsServer.start();
  t.after(() => dns.close());
  const { dir, configPath } = await writeTestConfig('');
  await writePolicyCertificate(ca, dir, ['mta-sts.example.com']);
  const [httpsPort, smtpPort] = await freePorts(2);
  const rest =
    'tls: { source: files, certificates: [{ cert: policy.crt, key: policy.key }] }\n' +
    `listen: { address: 127.0.0.1, https: ${httpsPort}, http: 0 }\nadmin: { address: 127.0.0.1, port: 0 }\n` +
    'reverse_dns: { enabled: false }\nstate_dir: state\nhealth: { enabled: true, interval: 6h }\n';
  const writeConfig = (mode: string, mx: string[]) => writeFile(configPath, domainsYaml(mode, mx) + rest);
  await writeConfig('testing', ['mx1.example.com']);

  // Two MX hosts in DNS, both with valid STARTTLS; the policy names only the first.
  for (const [host, address] of [
    ['mx1.example.com', '127.0.0.2'],
    ['mx2.example.com', '127.0.0.3'],
  ] as const) {
    const server = await startTestMx(address, smtpPort, await ca.issue([host]));
    t.after(() => new Promise((resolve) => server.close(() => resolve(undefined))));
    dns.setA(host, [address]);
  }
  const publishId = async () =>
    dns.setTxt('_mta-sts.example.com', [`v=STSv1; id=${(await servedIds(configPath)).get('example.com')}`]);
  await publishId();
  dns.setA('mta-sts.example.com', ['127.0.0.1']);
  dns.setTxt('_smtp._tls.example.com', ['v=TLSRPTv1; rua=mailto:tlsrpt@example.com']);
  dns.setMx('example.com', [
    { priority: 10, exchange: 'mx1.example.com' },
    { priority: 20, exchange: 'mx2.example.com' },
  ]);

  const running = await startTestServiceAt(dir, configPath, {
    selfCheck: selfCheckAt(dns, ca, { httpsPort, smtpPort }, 5_000),
  });
  t.after(() => running.service.stop());
  const { log } = running;
  const changes = () => log.events('health_check').map(({ check, from, to }) => `${check}: ${from} -> ${to}`);

  // The first round: only what is not ok is news. mx2 is live but in no pattern: a warning under testing.
  await log.waitFor((line) => line.event === 'health_check', 30_000);
  assert.deepEqual(changes(), ['mx_covered: null -> warn']);
  assert.match(
    String(log.events('health_check')[0]!.message),
    /^mx2\.example\.com is in no mx pattern \(mx1\.example\.com\): enforce would bounce mail to it/,
  );

  const metrics = await scrape(running.service.listeners.adminAddress!.port);
  const statuses = Object.fromEntries(
    samples(metrics.body, 'mta_sts_health_check_status').map(({ labels, value }) => [`${labels.domain} ${labels.check}`, value]),
  );
  assert.deepEqual(statuses, {
    'example.com sts_txt': 0,
    'example.com sts_txt_id': 0,
    'example.com policy_host_dns': 0,
    'example.com policy_fetch': 0,
    'example.com policy_certificate': 0,
    'example.com mx_covered': 1,
    'example.com mx_starttls': 0,
    'example.com tlsrpt_txt': 0,
  });
  const [checkedAt] = samples(metrics.body, 'mta_sts_health_checked_timestamp_seconds');
  assert.equal(checkedAt?.labels.domain, 'example.com');
  assert.ok(Math.abs(checkedAt!.value - Date.now() / 1000) < 120, String(checkedAt?.value));

  // Switching to enforce with mx2 still outside the policy: applied, and called out at once.
  await writeConfig('enforce', ['mx1.example.com']);
  await running.service.reload();
  const risk =
    /^example\.com: switched to enforce, but mx2\.example\.com \(an MX in DNS at the last check, \S+\) is in no mx pattern: senders that enforce will not deliver to it$/;
  assert.equal(log.events('config_risk').length, 1);
  assert.match(String(log.events('config_risk')[0]!.risk), risk);
  const reloaded = log.events('config_reloaded').at(-1)!;
  assert.equal((reloaded.risks as string[]).length, 1);
  assert.match((reloaded.risks as string[])[0]!, risk);
  assert.match(String(reloaded.msg), /; at risk: example\.com: switched to enforce/);

  // The changed policy is checked at once: the TXT id is stale and mx2 now fails.
  await log.waitFor((line) => line.event === 'health_check' && line.check === 'sts_txt_id', 30_000);
  await log.waitFor((line) => line.event === 'health_check' && line.check === 'mx_covered' && line.to === 'fail', 30_000);
  assert.deepEqual(changes(), ['mx_covered: null -> warn', 'sts_txt_id: ok -> fail', 'mx_covered: warn -> fail']);

  // Fixed: mx2 in the policy and the new id published. No risk; both checks back to ok, logged once each.
  await writeConfig('enforce', ['mx1.example.com', 'mx2.example.com']);
  await publishId();
  await running.service.reload();
  assert.equal(log.events('config_risk').length, 1, 'covering the MX is no risk');
  assert.equal(log.events('config_reloaded').at(-1)!.risks, undefined);
  await log.waitFor((line) => line.event === 'health_check' && line.check === 'mx_covered' && line.to === 'ok', 30_000);
  await log.waitFor((line) => line.event === 'health_check' && line.check === 'sts_txt_id' && line.to === 'ok', 30_000);
  assert.deepEqual(changes().slice(3).sort(), ['mx_covered: fail -> ok', 'sts_txt_id: fail -> ok']);
});
