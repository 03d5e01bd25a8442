import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '../src/log/logger.js';
import { ServiceMetrics } from '../src/metrics/service-metrics.js';
import { buildAdminApp } from '../src/server/admin-app.js';
import { openBackends } from '../src/storage/backends.js';
import { AcmeChallengeTokens } from '../src/tls/acme/challenges.js';
import { EXAMPLE_ORG_POLICY, policies, policyApp, redirectApp } from './support/apps.js';
import { rawHttpRequest } from './support/raw-client.js';
import { LogCapture, writeTestConfig } from './support/service.js';

// What a browser may do with an answer of either listener: nothing (helmet's settings for a
// plain-text endpoint, src/server/security-headers.ts); HSTS only over HTTPS.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-site',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '0',
};
const HSTS = { 'strict-transport-security': 'max-age=31536000' };

const securityHeadersOf = (headers: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name in SECURITY_HEADERS || name in HSTS));

test('every answer of the HTTPS listener carries the security headers and HSTS, the port-80 one no HSTS', async () => {
  const { app } = await policyApp();
  for (const [method, url] of [
    ['GET', '/.well-known/mta-sts.txt'],
    ['PUT', '/.well-known/mta-sts.txt'],
    ['GET', '/elsewhere'],
    ['GET', '/healthz'],
  ] as const) {
    const response = await app.inject({ method, url, headers: { host: 'mta-sts.example.com' } });
    assert.deepEqual(securityHeadersOf(response.headers), { ...SECURITY_HEADERS, ...HSTS }, `${method} ${url}`);
  }
  const port80 = await redirectApp();
  for (const url of ['/page', '/.well-known/mta-sts.txt', '/healthz']) {
    const response = await port80.inject({ url, headers: { host: 'mta-sts.example.com' } });
    assert.deepEqual(securityHeadersOf(response.headers), SECURITY_HEADERS, url);
  }
});

test('HEAD and other methods on the policy path: the fetch log names the method, and a policy id only for a 200', async () => {
  const { app, log } = await policyApp();
  const head = await app.inject({ method: 'HEAD', url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.org' } });
  assert.equal(head.headers['content-length'], String(EXAMPLE_ORG_POLICY.length));
  await app.inject({ method: 'PUT', url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.org' } });
  assert.deepEqual(
    log.events('policy_fetch').map((line) => [line.method, line.status, line.domain, line.policy_id]),
    [
      ['HEAD', 200, 'example.org', policies().forHost('mta-sts.example.org')!.id],
      ['PUT', 405, 'example.org', null],
    ],
  );
});

test('port 80: HEAD is redirected like GET, other methods are not; port 443 is left out of the URL', async () => {
  const app = await redirectApp({ httpsPort: 443 });
  const head = await app.inject({ method: 'HEAD', url: '/page?x=1', headers: { host: 'mta-sts.example.com' } });
  assert.equal(head.statusCode, 301);
  assert.equal(head.headers.location, 'https://mta-sts.example.com/page?x=1');
  for (const method of ['POST', 'PUT', 'DELETE'] as const) {
    const response = await app.inject({ method, url: '/page', headers: { host: 'mta-sts.example.com' } });
    assert.equal(response.statusCode, 404, method);
    assert.equal(response.body, '404 not found\n', method);
    assert.equal(response.headers.location, undefined, method);
  }
});

test('port 80: an ACME token outside base64url is refused, never looked up', async () => {
  const challenges = new AcmeChallengeTokens(openBackends({ stateDir: (await writeTestConfig('')).dir }).storage);
  await challenges.set('a.b', 'a.b.thumbprint');
  const app = await redirectApp({ challenges });
  const response = await app.inject({ url: '/.well-known/acme-challenge/a.b', headers: { host: 'mta-sts.example.com' } });
  assert.equal(response.statusCode, 400);
  assert.doesNotMatch(response.body, /thumbprint/);
  await challenges.set('A-z_09', 'A-z_09.thumbprint');
  const valid = await app.inject({ url: '/.well-known/acme-challenge/A-z_09', headers: { host: 'mta-sts.example.com' } });
  assert.equal(valid.body, 'A-z_09.thumbprint');
  assert.equal(valid.headers['content-type'], 'application/octet-stream');
});

test('on a real socket: the policy without Fastify, and what needs its judgement (two Hosts, a bad Host, a proxy) with it', async (t) => {
  const listen = async (trustProxy?: string[]) => {
    const { app, log } = await policyApp(trustProxy ? { trustProxy } : {});
    t.after(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const send = (...headerLines: string[]) =>
      rawHttpRequest(port, ['GET /.well-known/mta-sts.txt HTTP/1.1', ...headerLines, 'Connection: close', '', ''].join('\r\n'));
    return { log, send };
  };
  const direct = await listen();
  const served = await direct.send('Host: mta-sts.example.org');
  assert.equal(served.status, 200);
  assert.equal(served.body, EXAMPLE_ORG_POLICY);
  // RFC 7230 §5.4: a request with more than one Host header is answered 400, whatever their case.
  for (const hosts of [
    ['Host: mta-sts.example.org', 'Host: mta-sts.example.com'],
    ['Host: mta-sts.example.org', 'HOST: evil.example'],
  ]) {
    const twoHosts = await direct.send(...hosts);
    assert.equal(twoHosts.status, 400, hosts.join(' '));
    assert.equal(twoHosts.body, '400 bad request: more than one Host header\n');
  }
  const badHost = await direct.send('Host: mta sts.example.org');
  assert.equal(badHost.status, 400);
  const forged = await direct.send('Host: mta-sts.example.org', 'X-Forwarded-For: 104.47.10.20');
  assert.equal(forged.status, 200);
  assert.deepEqual(
    direct.log.events('policy_fetch').map((line) => line.ip),
    ['127.0.0.1', '127.0.0.1'],
  );
  // The user agent as Node's request.headers has it: a name in any case, the first of several; '' without one.
  await direct.send('Host: mta-sts.example.org', 'user-AGENT: Google-SMTP-STS', 'User-Agent: second');
  await direct.send('Host: mta-sts.example.org');
  assert.deepEqual(
    direct.log
      .events('policy_fetch')
      .slice(-2)
      .map((line) => line.ua),
    ['Google-SMTP-STS', ''],
  );

  const behindProxy = await listen(['127.0.0.1']);
  assert.equal((await behindProxy.send('Host: mta-sts.example.org', 'X-Forwarded-For: 104.47.10.20')).status, 200);
  assert.deepEqual(
    behindProxy.log.events('policy_fetch').map((line) => [line.ip, line.provider]),
    [['104.47.10.20', 'microsoft']],
  );
});

test('the admin listener with a token: 401 names the scheme and says no more; the right token gets the metrics', async () => {
  const set = policies();
  const log = new LogCapture();
  const app = await buildAdminApp({
    logger: createLogger('info', log),
    metrics: new ServiceMetrics({ policies: () => set, certificateFor: () => undefined }),
    token: 'admin-token-0123456789',
  });
  for (const authorization of [undefined, 'Bearer wrong-token-012345678', 'admin-token-0123456789']) {
    const refused = await app.inject({ url: '/metrics', headers: authorization === undefined ? {} : { authorization } });
    assert.equal(refused.statusCode, 401, String(authorization));
    assert.equal(refused.headers['www-authenticate'], 'Basic realm="mta-sts-server"');
    assert.equal(refused.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(refused.body, '401 unauthorized\n');
  }
  const scraped = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer admin-token-0123456789' } });
  assert.equal(scraped.statusCode, 200);
  // A scrape every few seconds writes no log line: Fastify's per-request lines are off.
  assert.deepEqual(log.lines, []);
});

test('short answers: their texts and type on both listeners; other four-letter headers are not a second Host', async () => {
  const port80 = await redirectApp();
  const challenge = await port80.inject({ url: '/.well-known/acme-challenge/unknown', headers: { host: 'mta-sts.example.com' } });
  assert.equal(challenge.body, '404 not found\n');
  assert.equal(challenge.headers['content-type'], 'text/plain; charset=utf-8');
  const policy = await port80.inject({ url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(policy.body, '404 not found: the policy is served over HTTPS only\n');
  assert.equal(policy.headers['content-type'], 'text/plain; charset=utf-8');
  const { app } = await policyApp();
  const badHost = await app.inject({ url: '/.well-known/mta-sts.txt', headers: { host: 'mta sts.example.com' } });
  assert.equal(badHost.statusCode, 400);
  assert.equal(badHost.headers['content-type'], 'text/plain; charset=utf-8');
  const withFrom = await app.inject({
    url: '/.well-known/mta-sts.txt',
    headers: { host: 'mta-sts.example.com', from: 'postmaster@example.net', date: 'Tue, 01 Dec 2026 06:00:00 GMT' },
  });
  assert.equal(withFrom.statusCode, 200);
});
