import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { createReportIntake } from '../src/reports/intake.js';
import { createLogger } from '../src/log/logger.js';
import { openBackends } from '../src/storage/backends.js';
import { stateDatabasePath } from '../src/storage/sqlite-database.js';
import { policyApp } from './support/apps.js';
import { cliInProcess } from './support/cli.js';
import { samples, scrape } from './support/metrics.js';
import { LOOPBACK_LISTEN, startTestService } from './support/service.js';
import { gzipBody, jsonBody, microsoftReport, rfcExampleReport } from './support/tls-reports.js';

const run = promisify(execFile);
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
  const { app } = await policyApp({ tlsReports: { intake, maxBodyBytes } });
  return { app, store, stateDir };
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

test('POST /tlsrpt over real HTTPS with curl: the service stores the report; without reports.https the path is 404', async () => {
  const withReports = await startTestService(
    `domains:\n  example.com: { mx: [mail.example.com] }\n${LOOPBACK_LISTEN}reports: { https: { enabled: true } }\n`,
  );
  const file = join(withReports.dir, 'report.json.gz');
  await writeFile(file, gzipSync(JSON.stringify(microsoftReport())));
  const curl = (port: number, ...extra: string[]) =>
    run('curl', [
      '--silent',
      '--show-error',
      '--insecure',
      '--resolve',
      `mta-sts.example.com:${port}:127.0.0.1`,
      '--write-out',
      '%{http_code}',
      ...extra,
      `https://mta-sts.example.com:${port}/tlsrpt`,
    ]);
  try {
    const sent = await curl(withReports.httpsPort, '--header', `Content-Type: ${GZIP}`, '--data-binary', `@${file}`);
    assert.equal(sent.stdout, '201 report stored\n201');
    const line = await withReports.log.waitFor((entry) => entry.event === 'tlsrpt_report');
    assert.equal(line.via, 'https');
    assert.equal(line.successful_sessions, 42);
    const retried = await curl(withReports.httpsPort, '--header', `Content-Type: ${GZIP}`, '--data-binary', `@${file}`);
    assert.equal(retried.stdout, '200 report already stored\n200');
    const metrics = (await scrape(withReports.service.adminAddress!.port)).body;
    assert.deepEqual(samples(metrics, 'mta_sts_tlsrpt_sessions_total'), [
      { labels: { domain: 'example.com', organization: 'Microsoft Corporation', result: 'successful' }, value: 42 },
      { labels: { domain: 'example.com', organization: 'Microsoft Corporation', result: 'failed' }, value: 0 },
    ]);
    assert.deepEqual(samples(metrics, 'mta_sts_tlsrpt_reports_received_total'), [
      { labels: { via: 'https', outcome: 'stored' }, value: 1 },
      { labels: { via: 'https', outcome: 'duplicate' }, value: 1 },
    ]);
    // What `reports` shows of it, while the service keeps the database open.
    const shown = await cliInProcess(['reports', '--json', '--since', '2026-11-01', '--config', withReports.configPath]);
    assert.equal(shown.code, 0, shown.stderr);
    const [domain] = (JSON.parse(shown.stdout) as { domains: Record<string, unknown>[] }).domains;
    assert.deepEqual(
      { reports: domain!.reports, successful: domain!.successful_sessions, organizations: domain!.organizations },
      {
        reports: 1,
        successful: 42,
        organizations: [{ organization: 'Microsoft Corporation', reports: 1, successful_sessions: 42, failed_sessions: 0 }],
      },
    );
  } finally {
    await withReports.service.stop();
  }
  const without = await startTestService(`domains:\n  example.com: { mx: [mail.example.com] }\n${LOOPBACK_LISTEN}`);
  try {
    const sent = await curl(without.httpsPort, '--header', `Content-Type: ${GZIP}`, '--data-binary', `@${file}`);
    assert.equal(sent.stdout, '404 not found\n404');
  } finally {
    await without.service.stop();
  }
});
