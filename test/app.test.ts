import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { openBackends } from '../src/storage/backends.js';
import { AcmeChallengeTokens } from '../src/tls/acme/challenges.js';
import { writeTestConfig } from './support/service.js';
import { EXAMPLE_COM_POLICY, policies, policyApp, redirectApp } from './support/apps.js';

test('GET the policy: 200, text/plain, exact bytes; HEAD: same headers, no body', async () => {
  const { app } = await policyApp();
  const get = await app.inject({ method: 'GET', url: '/.well-known/mta-sts.txt', headers: { host: 'MTA-STS.example.com:443' } });
  assert.equal(get.statusCode, 200);
  assert.equal(get.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(get.body, EXAMPLE_COM_POLICY);
  assert.equal(get.headers['content-length'], String(EXAMPLE_COM_POLICY.length));
  assert.equal(get.headers['strict-transport-security'], 'max-age=31536000');
  assert.equal(get.headers['x-content-type-options'], 'nosniff');
  assert.equal(get.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
  assert.equal(get.headers.location, undefined);
  const head = await app.inject({ method: 'HEAD', url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(head.headers['content-length'], String(EXAMPLE_COM_POLICY.length));
  assert.equal(head.body, '');
});

test('other hosts, paths and methods: short 404/405 texts that name no domain', async () => {
  const { app } = await policyApp();
  const cases: [string, string, string, number, string][] = [
    ['GET', '/.well-known/mta-sts.txt', 'example.com', 404, '404 not found\n'],
    ['GET', '/.well-known/mta-sts.txt', 'mta-sts.example.net', 404, '404 not found\n'],
    ['GET', '/.well-known/mta-sts.txt', 'www.mta-sts.example.com', 404, '404 not found\n'],
    ['GET', '/', 'mta-sts.example.com', 404, '404 not found\n'],
    ['GET', '/.well-known/mta-sts.txt/', 'mta-sts.example.com', 404, '404 not found\n'],
    ['GET', '/.well-known/MTA-STS.txt', 'mta-sts.example.com', 404, '404 not found\n'],
    ['POST', '/.well-known/mta-sts.txt', 'mta-sts.example.com', 405, '405 method not allowed\n'],
    ['DELETE', '/.well-known/mta-sts.txt', 'mta-sts.example.com', 405, '405 method not allowed\n'],
  ];
  for (const [method, url, host, status, body] of cases) {
    const response = await app.inject({ method: method as 'GET', url, headers: { host } });
    assert.equal(response.statusCode, status, `${method} ${host}${url}`);
    assert.equal(response.body, body, `${method} ${host}${url}`);
    assert.doesNotMatch(response.body, /example\.(com|org)/);
  }
  const post = await app.inject({ method: 'POST', url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('the fetch log: one line per policy request with stable fields', async () => {
  const { app, log } = await policyApp();
  await app.inject({
    method: 'GET',
    url: '/.well-known/mta-sts.txt',
    headers: { host: 'mta-sts.example.com', 'user-agent': 'Google-SMTP-STS' },
    remoteAddress: '::ffff:209.85.128.5',
  });
  await app.inject({
    method: 'GET',
    url: '/.well-known/mta-sts.txt',
    headers: { host: 'mta-sts.unknown.example' },
    remoteAddress: '104.47.1.2',
  });
  await app.inject({ method: 'GET', url: '/healthz', headers: { host: 'mta-sts.example.com' } });
  const fetches = log.events('policy_fetch');
  assert.equal(fetches.length, 2);
  const [google, unknownHost] = fetches;
  const { time, response_ms, ...stable } = google!;
  assert.match(String(time), /^\d{4}-\d\d-\d\dT/);
  assert.equal(typeof response_ms, 'number');
  assert.deepEqual(stable, {
    level: 'info',
    event: 'policy_fetch',
    domain: 'example.com',
    host: 'mta-sts.example.com',
    ip: '209.85.128.5',
    ua: 'Google-SMTP-STS',
    provider: 'google',
    provider_evidence: 'ua+ip',
    provider_claimed: null,
    method: 'GET',
    status: 200,
    policy_id: policies().forHost('mta-sts.example.com')!.id,
    tls: null,
  });
  assert.equal(unknownHost!.domain, null);
  assert.equal(unknownHost!.host, 'mta-sts.unknown.example');
  assert.equal(unknownHost!.status, 404);
  assert.equal(unknownHost!.policy_id, null);
  assert.equal(unknownHost!.provider, 'microsoft');
});

test('X-Forwarded-For is ignored by default and believed only from a trusted proxy', async () => {
  const request = (app: FastifyInstance, remoteAddress: string) =>
    app.inject({
      method: 'GET',
      url: '/.well-known/mta-sts.txt',
      headers: { host: 'mta-sts.example.com', 'x-forwarded-for': '104.47.10.20' },
      remoteAddress,
    });
  const untrusting = await policyApp();
  await request(untrusting.app, '198.51.100.7');
  assert.equal(untrusting.log.events('policy_fetch')[0]!.ip, '198.51.100.7');
  assert.equal(untrusting.log.events('policy_fetch')[0]!.provider, 'unknown');

  const trusting = await policyApp({ trustProxy: ['10.0.0.0/8', '2001:db8::1'] });
  await request(trusting.app, '10.1.2.3');
  await request(trusting.app, '198.51.100.7');
  await request(trusting.app, '2001:db8::1');
  assert.deepEqual(
    trusting.log.events('policy_fetch').map((line) => [line.ip, line.provider]),
    [
      ['104.47.10.20', 'microsoft'],
      ['198.51.100.7', 'unknown'],
      ['104.47.10.20', 'microsoft'],
    ],
  );
});

test('healthz and readyz answer on both listeners without naming domains', async () => {
  const ready = (await policyApp()).app;
  assert.deepEqual((await ready.inject('/healthz')).json(), { status: 'ok' });
  assert.deepEqual((await ready.inject('/readyz')).json(), { status: 'ready' });
  const notReady = (await policyApp({ readiness: { ready: false, hostsWithoutCertificate: 2 } })).app;
  const response = await notReady.inject('/readyz');
  assert.equal(response.statusCode, 503);
  assert.deepEqual(response.json(), { status: 'not ready', hosts_without_certificate: 2 });
  const http = await redirectApp();
  assert.equal((await http.inject('/healthz')).statusCode, 200);
  assert.equal((await http.inject('/readyz')).statusCode, 200);
});

test('port 80: ACME challenges while pending, HTTPS redirect only for our hosts, never for the policy', async () => {
  const { dir } = await writeTestConfig('');
  const challenges = new AcmeChallengeTokens(openBackends({ stateDir: dir }).storage);
  // Another replica sharing the storage placed the order: the CA's validation may reach this one.
  const otherReplica = new AcmeChallengeTokens(openBackends({ stateDir: dir }).storage);
  const app = await redirectApp({ challenges, httpsPort: 8443 });
  const challenge = () => app.inject({ url: '/.well-known/acme-challenge/tok-EN_1', headers: { host: 'mta-sts.example.com' } });
  for (const placing of [challenges, otherReplica]) {
    assert.equal((await challenge()).statusCode, 404);
    await placing.set('tok-EN_1', 'tok-EN_1.thumbprint');
    const answered = await challenge();
    assert.equal(answered.statusCode, 200);
    assert.equal(answered.body, 'tok-EN_1.thumbprint');
    await placing.delete('tok-EN_1');
    assert.equal((await challenge()).statusCode, 404);
  }
  const tooLong = await app.inject({
    url: `/.well-known/acme-challenge/${'a'.repeat(129)}`,
    headers: { host: 'mta-sts.example.com' },
  });
  // No storage read for a token longer than any CA sends: Fastify refuses the path parameter first.
  assert.equal(tooLong.statusCode, 414);

  const redirect = await app.inject({ url: '/some/page?x=1', headers: { host: 'MTA-STS.example.org' } });
  assert.equal(redirect.statusCode, 301);
  assert.equal(redirect.headers.location, 'https://mta-sts.example.org:8443/some/page?x=1');
  const foreign = await app.inject({ url: '/', headers: { host: 'evil.example' } });
  assert.equal(foreign.statusCode, 404);
  assert.equal(foreign.headers.location, undefined);
  const policy = await app.inject({ url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(policy.statusCode, 404);
  assert.equal(policy.headers.location, undefined);
  assert.equal(policy.headers['strict-transport-security'], undefined);
});
