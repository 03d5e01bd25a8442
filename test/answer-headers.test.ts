import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXAMPLE_COM_POLICY, listening, policyApp, redirectApp } from './support/apps.js';
import { rawHttpRequest } from './support/raw-client.js';

// The security headers every answer carries, in the order helmet sets them (src/server/security-headers.ts):
// the policy fast path sends them from its own copy, so a header missing, added or doubled there shows here.
const HELMET = [
  "content-security-policy: default-src 'none';frame-ancestors 'none'",
  'cross-origin-resource-policy: same-site',
  'referrer-policy: no-referrer',
  'strict-transport-security: max-age=31536000',
  'x-content-type-options: nosniff',
  'x-frame-options: DENY',
  'x-xss-protection: 0',
];
const HELMET_PORT_80 = HELMET.filter((line) => !line.startsWith('strict-transport-security'));
const TEXT = 'content-type: text/plain; charset=utf-8';

/** The header lines of an answer as sent, names in lower case, the date's value left out. */
function headerLines(raw: string): string[] {
  const [, ...lines] = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
  return lines.map((line) => {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    return name === 'date' ? 'date' : `${name}: ${line.slice(colon + 1).trim()}`;
  });
}

const request = (method: string, path: string, host: string) =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: answer-headers-test\r\nConnection: close\r\n\r\n`;

test('the policy fast path: each answer’s exact header lines, status, body and fetch log line', async (t) => {
  const { app, log } = await policyApp();
  const port = await listening(app, t);
  const answers: [string, string, number, string, string[]][] = [
    ['GET', 'mta-sts.example.com', 200, EXAMPLE_COM_POLICY, [TEXT, `content-length: ${EXAMPLE_COM_POLICY.length}`]],
    ['HEAD', 'mta-sts.example.com', 200, '', [TEXT, `content-length: ${EXAMPLE_COM_POLICY.length}`]],
    ['GET', 'mta-sts.example.net', 404, '404 not found\n', [TEXT, 'content-length: 14']],
    ['HEAD', 'mta-sts.example.net', 404, '', [TEXT, 'content-length: 14']],
    ['POST', 'mta-sts.example.com', 405, '405 method not allowed\n', [TEXT, 'content-length: 23', 'allow: GET, HEAD']],
    ['OPTIONS', 'mta-sts.example.net', 405, '405 method not allowed\n', [TEXT, 'content-length: 23', 'allow: GET, HEAD']],
    // Back to the policy after other bodies: its own length again.
    ['GET', 'mta-sts.example.com', 200, EXAMPLE_COM_POLICY, [TEXT, `content-length: ${EXAMPLE_COM_POLICY.length}`]],
  ];
  for (const [method, host, status, body, own] of answers) {
    const answer = await rawHttpRequest(port, request(method, '/.well-known/mta-sts.txt', host));
    const what = `${method} ${host}`;
    assert.equal(answer.status, status, what);
    assert.equal(answer.body, body, what);
    assert.deepEqual(headerLines(answer.raw), [...HELMET, ...own, 'date', 'connection: close'], what);
  }
  assert.deepEqual(
    log.events('policy_fetch').map((line) => [line.method, line.host, line.domain, line.status, line.ua, line.ip]),
    answers.map(([method, host, status]) => [
      method,
      host,
      host === 'mta-sts.example.com' ? 'example.com' : null,
      status,
      'answer-headers-test',
      '127.0.0.1',
    ]),
  );
});

test('Fastify’s answers on both listeners carry the same security headers, and no others of their kind', async (t) => {
  const { app } = await policyApp();
  const port = await listening(app, t);
  const health = await rawHttpRequest(port, request('GET', '/healthz', 'mta-sts.example.com'));
  assert.equal(health.body, '{"status":"ok"}');
  assert.deepEqual(headerLines(health.raw), [
    ...HELMET,
    'content-type: application/json; charset=utf-8',
    'content-length: 15',
    'date',
    'connection: close',
  ]);
  const elsewhere = await rawHttpRequest(port, request('GET', '/elsewhere', 'mta-sts.example.com'));
  assert.equal(elsewhere.status, 404);
  assert.deepEqual(headerLines(elsewhere.raw), [...HELMET, TEXT, 'content-length: 14', 'date', 'connection: close']);

  const port80 = await listening(await redirectApp(), t);
  const redirect = await rawHttpRequest(port80, request('GET', '/page', 'mta-sts.example.com'));
  assert.equal(redirect.status, 301);
  assert.deepEqual(headerLines(redirect.raw), [
    ...HELMET_PORT_80,
    'location: https://mta-sts.example.com/page',
    'content-length: 0',
    'date',
    'connection: close',
  ]);
});
