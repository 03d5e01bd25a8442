import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { TestDnsServer, DNS_TYPE } from './support/dns-server.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { reverseDnsTestConfig, startTestService, type TestService } from './support/service.js';

// PTR attribution through a real DNS server the test runs: confirmed, unconfirmed, contradicting, silent.

let dns: TestDnsServer;

before(async () => {
  dns = await TestDnsServer.start();
  dns.setPtr('209.85.128.5', 'mail-ua1-f45.google.com');
  dns.setA('mail-ua1-f45.google.com', ['209.85.128.5']);
  // A PTR anyone can write for their own address: it names Microsoft, but Microsoft's name does not point back.
  dns.setPtr('198.51.100.20', 'mail.outbound.protection.outlook.com');
  dns.setA('mail.outbound.protection.outlook.com', ['40.92.0.1']);
  dns.setPtr('203.0.113.7', 'vps7.hosting.example');
  dns.setA('vps7.hosting.example', ['203.0.113.7']);
});

after(() => dns.close());

/** A fetch arriving through the trusted local proxy from `ip`, as the proxy would forward it. */
async function fetchAs(running: TestService, ip: string, userAgent: string): Promise<number> {
  const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
  const started = performance.now();
  await fetchPolicy({
    port: running.httpsPort,
    host: 'mta-sts.example.com',
    ca,
    headers: { 'x-forwarded-for': ip, 'user-agent': userAgent },
  });
  return performance.now() - started;
}

const ptrLineFor = (running: TestService, ip: string) =>
  running.log.waitFor((line) => line.event === 'policy_fetch_ptr' && line.ip === ip, 5_000);

test('confirmed, unconfirmed and contradicting reverse DNS, each in a second log line', async () => {
  const running = await startTestService(reverseDnsTestConfig(dns.port, 500));
  try {
    await fetchAs(running, '209.85.128.5', 'Google-SMTP-STS');
    await fetchAs(running, '198.51.100.20', '');
    await fetchAs(running, '203.0.113.7', 'Google-SMTP-STS');
    const strip = ({ time: _time, level: _level, ...rest }: Record<string, unknown>) => rest;
    assert.deepEqual(strip(await ptrLineFor(running, '209.85.128.5')), {
      event: 'policy_fetch_ptr',
      domain: 'example.com',
      ip: '209.85.128.5',
      ptr: 'mail-ua1-f45.google.com',
      ptr_confirmed: true,
      ptr_provider: 'google',
      provider: 'google',
      provider_evidence: 'ua+ip+ptr',
      contradicted: false,
    });
    assert.deepEqual(strip(await ptrLineFor(running, '198.51.100.20')), {
      event: 'policy_fetch_ptr',
      domain: 'example.com',
      ip: '198.51.100.20',
      ptr: 'mail.outbound.protection.outlook.com',
      ptr_confirmed: false,
      ptr_provider: null,
      provider: 'unknown',
      provider_evidence: 'none',
      contradicted: false,
    });
    const spoofed = await ptrLineFor(running, '203.0.113.7');
    assert.equal(spoofed.ptr, 'vps7.hosting.example');
    assert.equal(spoofed.ptr_confirmed, true);
    assert.equal(spoofed.provider, 'unknown');
    assert.equal(spoofed.contradicted, true);

    // Cached: the same address again asks the DNS server nothing.
    const queries = dns.queries.length;
    await fetchAs(running, '209.85.128.5', 'Google-SMTP-STS');
    await running.log.waitFor(
      (line) => line.event === 'policy_fetch_ptr' && running.log.events('policy_fetch_ptr').length === 4,
      5_000,
    );
    assert.equal(dns.queries.length, queries);
    assert.ok(dns.queries.some((query) => query.type === DNS_TYPE.PTR && query.name === '5.128.85.209.in-addr.arpa'));
  } finally {
    await running.service.stop();
  }
});

test('a DNS server that never answers does not delay the policy; the lookup gives up', async () => {
  dns.setBlackHole(true);
  const running = await startTestService(reverseDnsTestConfig(dns.port, 500));
  try {
    const elapsed = await fetchAs(running, '209.85.128.99', 'Google-SMTP-STS');
    const fetchLine = await running.log.waitFor((line) => line.event === 'policy_fetch' && line.ip === '209.85.128.99');
    assert.ok((fetchLine.response_ms as number) < 100, `response took ${String(fetchLine.response_ms)} ms`);
    assert.ok(running.log.events('policy_fetch_ptr').length === 0, 'the PTR line came before the answer could have');
    const ptr = await ptrLineFor(running, '209.85.128.99');
    assert.equal(ptr.ptr, null);
    assert.equal(ptr.ptr_error, 'timeout');
    assert.ok(elapsed < 2_000);
  } finally {
    dns.setBlackHole(false);
    await running.service.stop();
  }
});
