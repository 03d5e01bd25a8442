import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createReportIntake } from '../src/reports/intake.js';
import { createLogger } from '../src/log/logger.js';
import { openBackends } from '../src/storage/backends.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { policyApp } from './support/apps.js';
import { gzipBody, jsonBody, microsoftReport, rfcExampleReport } from './support/tls-reports.js';

// POST /tlsrpt (RFC 8460 §3) on the policy app in process, with a real report store; over real
// HTTPS and through the service it is tlsrpt-https.test.ts.

const GZIP = 'application/tlsrpt+gzip';

async function reportsApp(maxBodyBytes = 4096) {
  const stateDir = await mkdtemp(join(tmpdir(), 'mta-sts-tlsrpt-'));
  const store = await openBackends({ stateDir }).openTlsReportStore('read-write');
  const intake = createReportIntake({
    store,
    domains: () => new Set(['example.com', 'example.org']),
    log: createLogger('silent'),
    maxReportBytes: 64 * 1024,
  });
  const { app, log } = await policyApp({ tlsReports: { intake, maxBodyBytes } });
  return { app, log, store, stateDir };
}

const post = (body: Buffer | string, contentType: string, host = 'mta-sts.example.com') => ({
  method: 'POST' as const,
  url: '/tlsrpt',
  headers: { host, 'content-type': contentType },
  payload: body,
});

test('POST /tlsrpt (inject): 201 stored, 200 duplicate, 400 malformed or not ours, 413, 415, 404 other host, 405 other method', async () => {
  const { app, store } = await reportsApp();
  const stored = await app.inject(post(gzipBody(microsoftReport()), GZIP));
  assert.equal(stored.statusCode, 201, stored.body);
  assert.equal(stored.body, '201 report stored\n');
  const again = await app.inject(post(jsonBody(microsoftReport()), 'application/tlsrpt+json; charset=utf-8'));
  assert.equal(again.statusCode, 200, again.body);
  assert.equal(again.body, '200 report already stored\n');

  const invalid = await app.inject(post('{"organization-name": ', 'application/tlsrpt+json'));
  assert.equal(invalid.statusCode, 400);
  assert.equal(invalid.body, '400 report rejected: invalid JSON at line 1 column 23 (position 22): unexpected end of input\n');
  const foreign = await app.inject(post(gzipBody(microsoftReport({ domain: 'elsewhere.example' })), GZIP));
  assert.equal(foreign.statusCode, 400);
  assert.match(foreign.body, /report is for elsewhere\.example, not a domain served here/);
  const truncated = await app.inject(post(gzipBody(rfcExampleReport({ domain: 'example.org' })).subarray(0, 100), GZIP));
  assert.equal(truncated.body, '400 report rejected: gzip data is truncated\n');

  const tooBig = await app.inject(post(Buffer.alloc(5000), GZIP));
  assert.equal(tooBig.statusCode, 413);
  assert.equal(tooBig.body, '413 report larger than 4096 bytes\n');
  const json = await app.inject(post(JSON.stringify(microsoftReport()), 'application/json'));
  assert.equal(json.statusCode, 415);
  assert.equal(json.body, '415 unsupported media type; send application/tlsrpt+gzip or application/tlsrpt+json\n');
  const otherHost = await app.inject(post(gzipBody(microsoftReport({ reportId: 'x' })), GZIP, 'mta-sts.elsewhere.example'));
  assert.equal(otherHost.statusCode, 404);
  const get = await app.inject({ method: 'GET', url: '/tlsrpt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(get.statusCode, 405);
  assert.equal(get.headers.allow, 'POST');

  assert.equal((await store.policyResults({ sinceDay: '2000-01-01' })).length, 1);
  assert.equal((await store.rejected({ sinceDay: '2000-01-01' })).length, 3);
  // The policy is served as before beside the route.
  const policy = await app.inject({ method: 'GET', url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(policy.statusCode, 200);
  await app.close();
  await store.close();
});

test('POST /tlsrpt answers 503 with Retry-After while the database is locked, and stores the retry once', async () => {
  const { app, store, stateDir } = await reportsApp();
  const other = new Database(stateDatabasePath(stateDir));
  other.exec('BEGIN IMMEDIATE');
  const busy = await app.inject(post(gzipBody(microsoftReport()), GZIP));
  assert.equal(busy.statusCode, 503);
  assert.equal(busy.headers['retry-after'], '300');
  other.exec('ROLLBACK');
  other.close();
  assert.equal((await app.inject(post(gzipBody(microsoftReport()), GZIP))).statusCode, 201);
  assert.equal((await app.inject(post(gzipBody(microsoftReport()), GZIP))).statusCode, 200);
  await app.close();
  await store.close();
});

test('POST /tlsrpt: 500 for a store failure that is not transient, logged; 405 with Allow for other methods; 415 without a media type, 400 for a bad length', async () => {
  const { app, log, store } = await reportsApp();
  const untyped = (headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: '/tlsrpt',
      headers: { host: 'mta-sts.example.com', ...headers },
      payload: gzipBody(microsoftReport()),
    });
  for (const headers of [{}, { 'content-type': '' }] as Record<string, string>[]) {
    const answer = await untyped(headers);
    assert.equal(answer.statusCode, 415, JSON.stringify(headers));
    assert.equal(answer.body, '415 unsupported media type; send application/tlsrpt+gzip or application/tlsrpt+json\n');
  }
  // Without a body nothing is parsed: the route's schema asks for the media type.
  const empty = await app.inject({ method: 'POST', url: '/tlsrpt', headers: { host: 'mta-sts.example.com' } });
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.body, '400 bad request\n');
  const badLength = await untyped({ 'content-type': GZIP, 'content-length': '5' });
  assert.equal(badLength.statusCode, 400);
  assert.equal(badLength.body, '400 bad request\n');
  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
    const other = await app.inject({ method, url: '/tlsrpt', headers: { host: 'mta-sts.example.com' } });
    assert.equal(other.statusCode, 405, method);
    assert.equal(other.headers.allow, 'POST', method);
    assert.equal(other.headers['content-type'], 'text/plain; charset=utf-8', method);
    assert.equal(other.body, method === 'HEAD' ? '' : '405 method not allowed\n', method);
  }
  assert.deepEqual(log.events('tlsrpt_error'), []);
  await store.close();
  const broken = await app.inject(post(gzipBody(microsoftReport()), GZIP));
  assert.equal(broken.statusCode, 500);
  assert.equal(broken.body, '500 internal error\n');
  assert.equal(broken.headers['content-type'], 'text/plain; charset=utf-8');
  const [logged] = log.events('tlsrpt_error');
  assert.equal(logged?.level, 'error');
  assert.equal(logged?.msg, 'TLS report request failed');
  assert.match(String(logged?.error), /database connection is not open/);
  await app.close();
});

test('without reports.https the policy listener has no /tlsrpt: 404 like any other path', async () => {
  const { app } = await policyApp();
  const answer = await app.inject(post(gzipBody(microsoftReport()), GZIP));
  assert.equal(answer.statusCode, 404);
  assert.equal(answer.body, '404 not found\n');
  await app.close();
});
