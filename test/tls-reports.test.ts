import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { decodeReport } from '../src/reports/decode.js';
import { createReportIntake, ReportStoreUnavailableError, type IntakeOutcome } from '../src/reports/intake.js';
import { SqliteTlsReportStore } from '../src/storage/sqlite-tls-report-store.js';
import { createLogger } from '../src/log/logger.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { LogCapture } from './support/service.js';
import { tlsReportStoreConformance } from './support/tls-report-store-conformance.js';
import { gzipBody, jsonBody, mailRuReport, microsoftReport, reportMessage, rfcExampleReport } from './support/tls-reports.js';

const GZIP = 'application/tlsrpt+gzip';
const JSON_TYPE = 'application/tlsrpt+json';
const MIB = 1024 * 1024;

const scratch = () => mkdtemp(join(tmpdir(), 'mta-sts-reports-'));

tlsReportStoreConformance('SQLite report store', async () => {
  const stateDir = await scratch();
  return { store: SqliteTlsReportStore.open(stateDir), reopen: async () => SqliteTlsReportStore.open(stateDir) };
});

async function intakeAt(stateDir?: string) {
  const dir = stateDir ?? (await scratch());
  const store = SqliteTlsReportStore.open(dir);
  const log = new LogCapture();
  const intake = createReportIntake({
    store,
    domains: () => new Set(['example.com', 'example.org']),
    log: createLogger('info', log),
    maxReportBytes: MIB,
  });
  return { intake, store, log, stateDir: dir };
}

const reasonOf = (outcome: IntakeOutcome) =>
  outcome.outcome === 'rejected' ? outcome.reason : `not rejected: ${outcome.outcome}`;

test('the RFC 8460 Appendix B example, Microsoft and Mail.ru shapes decode, gzip and plain JSON alike', async () => {
  const example = await decodeReport(gzipBody(rfcExampleReport()), GZIP, MIB);
  assert.ok(example.ok);
  assert.equal(example.facts.policies[0]!.policyDomain, 'company-y.example');
  assert.deepEqual(example.facts.policies[0]!.mxHosts, ['*.mail.company-y.example']);
  assert.equal(example.facts.policies[0]!.failures.length, 3);

  // Microsoft: no policy-string, no mx-host.
  const microsoft = await decodeReport(jsonBody(microsoftReport()), `${JSON_TYPE}; charset=utf-8`, MIB);
  assert.ok(microsoft.ok);
  assert.equal(microsoft.facts.policies[0]!.policyString, null);
  assert.deepEqual(microsoft.facts.policies[0]!.mxHosts, []);
  // Kept compressed for audit even though it came as JSON.
  assert.deepEqual(JSON.parse(gunzipSync(microsoft.compressed).toString()), microsoftReport());

  // Mail.ru: mx-host as one string, failure details adding up to more than the summary (totals come from the summary).
  const mailRu = await decodeReport(gzipBody(mailRuReport()), GZIP, MIB);
  assert.ok(mailRu.ok);
  assert.deepEqual(mailRu.facts.policies[0]!.mxHosts, ['mx.example.com']);
  assert.equal(mailRu.facts.policies[0]!.failedSessions, 1);
  assert.equal(mailRu.facts.start, '2026-11-19T21:00:00.000Z');

  // Unknown fields are kept, not rejected.
  const extended = { ...microsoftReport(), 'x-vendor-extension': { anything: [1, 2] } };
  const withExtension = await decodeReport(gzipBody(extended), GZIP, MIB);
  assert.ok(withExtension.ok);
  assert.deepEqual(JSON.parse(gunzipSync(withExtension.compressed).toString())['x-vendor-extension'], { anything: [1, 2] });
});

test('bad input is refused with a located reason: gzip bomb, truncated gzip, invalid JSON, wrong shape, wrong media type', async () => {
  // 64 MiB of zeros compress to about 64 KiB; the cap stops inflating at 1 MiB.
  const bomb = gzipSync(Buffer.alloc(64 * MIB), { level: 9 });
  assert.ok(bomb.length < 100 * 1024);
  const bombed = await decodeReport(bomb, GZIP, MIB);
  assert.deepEqual(bombed, { ok: false, reason: `report inflates to more than ${MIB} bytes (max_report_bytes)` });

  const whole = gzipBody(rfcExampleReport());
  assert.deepEqual(await decodeReport(whole.subarray(0, whole.length - 20), GZIP, MIB), {
    ok: false,
    reason: 'gzip data is truncated',
  });
  const notGzip = await decodeReport(Buffer.from('not gzip at all'), GZIP, MIB);
  assert.match(notGzip.ok ? '' : notGzip.reason, /^gzip data is invalid: /);

  const invalid = await decodeReport(Buffer.from('{\n  "organization-name": "X",\n  "report-id": }'), JSON_TYPE, MIB);
  assert.equal(invalid.ok ? '' : invalid.reason, "invalid JSON at line 3 column 16 (position 45): Unexpected token '}'");
  const cut = await decodeReport(Buffer.from('{"organization-name": "X"'), JSON_TYPE, MIB);
  assert.match(cut.ok ? '' : cut.reason, /^invalid JSON at line 1 column 26 \(position 25\)/);

  const report = rfcExampleReport();
  (report.policies[0]!.summary as Record<string, unknown>)['total-failure-session-count'] = -3;
  (report.policies[0]!.policy as Record<string, unknown>)['policy-type'] = 'dane';
  const shape = await decodeReport(jsonBody(report), JSON_TYPE, MIB);
  assert.equal(
    shape.ok ? '' : shape.reason,
    'not an RFC 8460 report: policies[0].policy.policy-type: expected one of sts, tlsa, no-policy-found; ' +
      'policies[0].summary.total-failure-session-count: must not be negative',
  );
  const media = await decodeReport(jsonBody(report), 'text/html', MIB);
  assert.match(
    media.ok ? '' : media.reason,
    /^media type text\/html is not a TLS report; expected application\/tlsrpt\+gzip or application\/tlsrpt\+json$/,
  );
});

test('intake: stores, answers duplicates, rejects what is not ours and keeps it as rejected, logs each', async () => {
  const { intake, store, log } = await intakeAt();
  const first = await intake.receiveReport(gzipBody(microsoftReport()), GZIP, 'https');
  assert.equal(first.outcome, 'stored');
  assert.deepEqual(
    first.outcome === 'stored' && first.reports.map((report) => [report.organization, report.successfulSessions]),
    [['Microsoft Corporation', 42]],
  );
  // A retry of the same report, by another way in: stored once.
  const retry = await intake.receiveMessage(reportMessage(microsoftReport()), 'smtp');
  assert.equal(retry.outcome, 'duplicate');
  assert.equal((await store.policyResults({ sinceDay: '2000-01-01' })).length, 1);

  const foreign = await intake.receiveReport(jsonBody(microsoftReport({ domain: 'not-ours.example' })), JSON_TYPE, 'https');
  assert.equal(reasonOf(foreign), 'report is for not-ours.example, not a domain served here');
  const bomb = await intake.receiveReport(gzipSync(Buffer.alloc(8 * MIB)), GZIP, 'https');
  assert.equal(reasonOf(bomb), `report inflates to more than ${MIB} bytes (max_report_bytes)`);
  const rejected = await store.rejected({ sinceDay: '2000-01-01' });
  assert.deepEqual(
    rejected.map((entry) => [entry.via, entry.reason]),
    [
      ['https', 'report is for not-ours.example, not a domain served here'],
      ['https', `report inflates to more than ${MIB} bytes (max_report_bytes)`],
    ],
  );

  const stored = log.events('tlsrpt_report');
  assert.equal(stored.length, 1);
  assert.deepEqual(
    { ...stored[0], time: undefined, level: undefined, msg: undefined },
    {
      event: 'tlsrpt_report',
      via: 'https',
      organization: 'Microsoft Corporation',
      report_id: '133890624000000000+example.com',
      policy_domain: 'example.com',
      period_start: '2026-11-20T00:00:00.000Z',
      period_end: '2026-11-20T23:59:59.000Z',
      successful_sessions: 42,
      failed_sessions: 0,
      time: undefined,
      level: undefined,
      msg: undefined,
    },
  );
  assert.deepEqual(
    log.events('tlsrpt_rejected').map((line) => line.reason),
    rejected.map((entry) => entry.reason),
  );
  await store.close();
});

test('intake: a message with text parts and a report attached by name under a generic type; a message without a report', async () => {
  const { intake, store } = await intakeAt();
  const generic = reportMessage(mailRuReport())
    .toString()
    .replace(/Content-Type: application\/tlsrpt\+gzip/, 'Content-Type: application/octet-stream');
  assert.match(generic, /octet-stream; name="reporter\.example!example\.com!1479168000!1479254399!mailru-2026-11-20\.json\.gz"/);
  assert.equal((await intake.receiveMessage(Buffer.from(generic), 'imap')).outcome, 'stored');
  assert.equal(
    (await intake.receiveMessage(reportMessage(rfcExampleReport({ domain: 'example.org' }), { json: true }), 'smtp')).outcome,
    'stored',
  );

  const plain = Buffer.from('From: a@b.example\r\nTo: tlsrpt@mta-sts.example.com\r\nSubject: hi\r\n\r\nno report here\r\n');
  assert.equal(
    reasonOf(await intake.receiveMessage(plain, 'smtp')),
    'message has no TLS report (no application/tlsrpt+gzip or +json part)',
  );
  const broken = reportMessage(microsoftReport({ reportId: 'broken' }), { json: true })
    .toString()
    .replace(/^(eyJ[^\r]*)$/m, (line) => Buffer.from('{"organization-name": ').toString('base64') + line.slice(40));
  assert.match(reasonOf(await intake.receiveMessage(Buffer.from(broken), 'smtp')), /^invalid JSON at line 1 column \d+/);
  assert.deepEqual(
    (await store.policyResults({ sinceDay: '2000-01-01' })).map((result) => [result.organization, result.via]),
    [
      ['Company-X', 'smtp'],
      ['Mail.Ru', 'imap'],
    ],
  );
  await store.close();
});

test('intake: a database locked by someone else is a transient failure (ReportStoreUnavailableError), and the retry stores once', async () => {
  const { intake, store, stateDir } = await intakeAt();
  const other = new Database(stateDatabasePath(stateDir));
  other.exec('BEGIN IMMEDIATE');
  await assert.rejects(intake.receiveReport(gzipBody(microsoftReport()), GZIP, 'smtp'), ReportStoreUnavailableError);
  other.exec('ROLLBACK');
  other.close();
  assert.equal((await intake.receiveReport(gzipBody(microsoftReport()), GZIP, 'smtp')).outcome, 'stored');
  assert.equal((await intake.receiveReport(gzipBody(microsoftReport()), GZIP, 'smtp')).outcome, 'duplicate');
  await store.close();
});
