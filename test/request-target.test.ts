import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { openBackends } from '../src/storage/backends.js';
import { AcmeChallengeTokens } from '../src/tls/acme/challenges.js';
import { writeTestConfig } from './support/service.js';
import { parseRequestTarget } from '../src/server/request-target.js';
import { EXAMPLE_COM_POLICY, policyApp, redirectApp } from './support/apps.js';
import { rawHttpRequest } from './support/raw-client.js';

const POLICY_PATH = '/.well-known/mta-sts.txt';

test('the requested host: Host for origin-form targets, the authority of absolute-form ones (RFC 9112 §3.2.2)', () => {
  const accepted: [string, string | undefined, string, string][] = [
    [POLICY_PATH, 'MTA-STS.Example.COM:443', 'mta-sts.example.com', POLICY_PATH],
    ['/x?y=1', 'mta-sts.example.com.', 'mta-sts.example.com', '/x?y=1'],
    ['/x', '[2001:DB8::1]:8443', '[2001:db8::1]', '/x'],
    ['/x', '192.0.2.1', '192.0.2.1', '/x'],
    ['/x', '', '', '/x'],
    ['*', 'mta-sts.example.com', 'mta-sts.example.com', '*'],
    [`https://mta-sts.example.org${POLICY_PATH}`, 'mta-sts.example.com', 'mta-sts.example.org', POLICY_PATH],
    [`HTTP://MTA-STS.example.org:8080${POLICY_PATH}?a=b`, 'mta-sts.example.com', 'mta-sts.example.org', `${POLICY_PATH}?a=b`],
    ['https://mta-sts.example.org', 'mta-sts.example.com', 'mta-sts.example.org', '/'],
    ['https://mta-sts.example.org?x', 'mta-sts.example.com', 'mta-sts.example.org', '/?x'],
    ['https://mta-sts.example.org.:/x', undefined, 'mta-sts.example.org', '/x'],
    ['http://[2001:db8::1]:80/x', 'mta-sts.example.com', '[2001:db8::1]', '/x'],
  ];
  for (const [url, host, wantHost, wantPath] of accepted) {
    assert.deepEqual(parseRequestTarget(url, host), { ok: true, host: wantHost, path: wantPath }, `${url} Host: ${host}`);
  }
  const malformed: [string, string | undefined][] = [
    ['https:///x', 'mta-sts.example.com'],
    ['https://:443/x', 'mta-sts.example.com'],
    ['https://user@mta-sts.example.org/x', 'mta-sts.example.com'],
    ['https://mta-sts.example.org:44x/', 'mta-sts.example.com'],
    ['https://[::1/', 'mta-sts.example.com'],
    ['https://mta-sts.example.org/#fragment', 'mta-sts.example.com'],
    ['ftp://mta-sts.example.org/x', 'mta-sts.example.com'],
    ['mta-sts.example.org:443', 'mta-sts.example.com'],
    ['/x', 'mta-sts.example.com:443:1'],
    ['/x', 'user@mta-sts.example.com'],
    ['/x', 'mta-sts.example.com/x'],
    ['/x', 'mta sts.example.com'],
  ];
  for (const [url, host] of malformed) assert.deepEqual(parseRequestTarget(url, host), { ok: false }, `${url} Host: ${host}`);
});

test('a Host header like the one before gets the same host; one unlike it, its own', () => {
  const sequence: [string, string | undefined][] = [
    ['MTA-STS.Example.COM', 'mta-sts.example.com'],
    ['MTA-STS.Example.COM', 'mta-sts.example.com'],
    ['mta-sts.example.org.', 'mta-sts.example.org'],
    ['mta sts.example.com', undefined],
    ['mta sts.example.com', undefined],
    ['MTA-STS.Example.COM', 'mta-sts.example.com'],
  ];
  for (const [header, host] of sequence) {
    const expected = host === undefined ? { ok: false } : { ok: true, host, path: POLICY_PATH };
    assert.deepEqual(parseRequestTarget(POLICY_PATH, header), expected, header);
  }
});

test('X-Forwarded-Host never picks the policy, even from a trusted proxy; Host does', async () => {
  const { app, log } = await policyApp({ trustProxy: ['10.0.0.0/8'] });
  const response = await app.inject({
    url: POLICY_PATH,
    headers: { host: 'mta-sts.example.com', 'x-forwarded-host': 'mta-sts.example.org', 'x-forwarded-for': '203.0.113.9' },
    remoteAddress: '10.0.0.1',
  });
  assert.equal(response.statusCode, 200);
  assert.equal(response.body, EXAMPLE_COM_POLICY);
  const unknown = await app.inject({
    url: POLICY_PATH,
    headers: { host: 'other.example', 'x-forwarded-host': 'mta-sts.example.org' },
    remoteAddress: '10.0.0.1',
  });
  assert.equal(unknown.statusCode, 404);
  assert.deepEqual(
    log.events('policy_fetch').map((line) => [line.host, line.domain, line.ip]),
    [
      ['mta-sts.example.com', 'example.com', '203.0.113.9'],
      ['other.example', null, '10.0.0.1'],
    ],
  );

  const port80 = await redirectApp({ trustProxy: ['10.0.0.0/8'] });
  const redirect = await port80.inject({
    url: '/page',
    headers: { host: 'mta-sts.example.org', 'x-forwarded-host': 'evil.example' },
    remoteAddress: '10.0.0.1',
  });
  assert.equal(redirect.statusCode, 301);
  assert.equal(redirect.headers.location, 'https://mta-sts.example.org/page');
  const notOurs = await port80.inject({
    url: '/page',
    headers: { host: 'evil.example', 'x-forwarded-host': 'mta-sts.example.org' },
    remoteAddress: '10.0.0.1',
  });
  assert.equal(notOurs.statusCode, 404);
  assert.equal(notOurs.headers.location, undefined);
});

test('a Host header that is not a valid authority is answered 400 on both listeners', async () => {
  const { app, log } = await policyApp();
  for (const path of [POLICY_PATH, `${POLICY_PATH}?x`, '/healthz']) {
    const response = await app.inject({ url: path, headers: { host: 'mta-sts.example.com@evil.example' } });
    assert.equal(response.statusCode, 400, path);
    assert.equal(response.body, '400 bad request: malformed request target or Host header\n');
  }
  assert.equal(log.events('policy_fetch').length, 0);
  const port80 = await redirectApp();
  assert.equal((await port80.inject({ url: '/page', headers: { host: 'mta-sts.example.org/evil' } })).statusCode, 400);
});

const absoluteRequest = (target: string, host: string) => `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

test('port 80: an absolute-form target decides the redirect, the 404 and the ACME challenge', async () => {
  const challenges = new AcmeChallengeTokens(openBackends({ stateDir: (await writeTestConfig('')).dir }).storage);
  const app = await redirectApp({ challenges, httpsPort: 8443 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const port = (app.server.address() as AddressInfo).port;
    const redirect = await rawHttpRequest(port, absoluteRequest('http://mta-sts.example.org/some/page?x=1', 'evil.example'));
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, 'https://mta-sts.example.org:8443/some/page?x=1');
    const notOurs = await rawHttpRequest(port, absoluteRequest('http://evil.example/some/page', 'mta-sts.example.org'));
    assert.equal(notOurs.status, 404);
    assert.equal(notOurs.headers.location, undefined);
    const malformed = await rawHttpRequest(port, absoluteRequest('http://user@mta-sts.example.org/', 'mta-sts.example.org'));
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers.location, undefined);

    await challenges.set('tok-EN_1', 'tok-EN_1.thumbprint');
    const challenge = await rawHttpRequest(
      port,
      absoluteRequest('http://mta-sts.example.com/.well-known/acme-challenge/tok-EN_1', 'x'),
    );
    assert.equal(challenge.status, 200);
    assert.equal(challenge.body, 'tok-EN_1.thumbprint');
  } finally {
    await app.close();
  }
});
