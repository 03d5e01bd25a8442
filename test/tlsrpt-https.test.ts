import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { cliInProcess } from './support/cli.js';
import { samples, scrape } from './support/metrics.js';
import { LOOPBACK_LISTEN, startTestService } from './support/service.js';
import { microsoftReport } from './support/tls-reports.js';

// POST /tlsrpt through the running service over real HTTPS; its answers in process are tlsrpt-routes.test.ts.

const run = promisify(execFile);
const GZIP = 'application/tlsrpt+gzip';

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
    const metrics = (await scrape(withReports.service.listeners.adminAddress!.port)).body;
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
