import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { parseReportJson } from '../../src/reports/decode.js';
import type { ReportToStore, TlsReportStore } from '../../src/storage/tls-report-store.js';
import { mailRuReport, microsoftReport, rfcExampleReport } from './tls-reports.js';

/** A store under test, and how to open it again on the same data (a restart). */
export interface StoreUnderTest {
  store: TlsReportStore;
  reopen(): Promise<TlsReportStore>;
}

function toStore(report: unknown, via: ReportToStore['via'] = 'https', receivedAt = '2026-11-21T08:00:00.000Z'): ReportToStore {
  const json = Buffer.from(JSON.stringify(report));
  const parsed = parseReportJson(json);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
  return { facts: parsed.facts, compressed: gzipSync(json), via, receivedAt };
}

/**
 * What every TlsReportStore must do, whatever keeps the data: run by each implementation's test
 * file with a factory that opens a fresh, empty store.
 */
export function tlsReportStoreConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  test(`${name}: a stored report keeps its policies and failure details, and survives a reopen`, async () => {
    const { store, reopen } = await open();
    assert.equal(await store.add(toStore(rfcExampleReport({ domain: 'example.com', day: '2026-11-20' }))), true);
    await store.close();
    const reopened = await reopen();
    const results = await reopened.policyResults({ sinceDay: '2026-11-01' });
    assert.equal(results.length, 1);
    const [policy] = results;
    assert.equal(policy!.organization, 'Company-X');
    assert.equal(policy!.policyDomain, 'example.com');
    assert.equal(policy!.successfulSessions, 5326);
    assert.equal(policy!.failedSessions, 303);
    assert.deepEqual(
      policy!.failures.map((failure) => [failure.resultType, failure.receivingMxHostname, failure.sessions]),
      [
        ['certificate-expired', 'mx1.mail.example.com', 100],
        ['starttls-not-supported', 'mx2.mail.example.com', 200],
        ['validation-failure', 'mx-backup.mail.example.com', 3],
      ],
    );
    assert.equal(policy!.failures[2]!.failureReasonCode, 'X509_V_ERR_PROOF_OF_POSSESSION_MISSING');
    assert.equal(policy!.failures[1]!.receivingIp, '203.0.113.56');
    await reopened.close();
  });

  test(`${name}: the same organization and report id is stored once; another organization's same id is another report`, async () => {
    const { store } = await open();
    const report = microsoftReport({ reportId: 'same-id' });
    assert.equal(await store.add(toStore(report)), true);
    assert.equal(await store.add(toStore(report, 'smtp')), false);
    assert.equal(await store.add(toStore(mailRuReport({ reportId: 'same-id' }))), true);
    const results = await store.policyResults({ sinceDay: '2026-11-01' });
    assert.deepEqual(results.map((result) => [result.organization, result.via]).sort(), [
      ['Mail.Ru', 'https'],
      ['Microsoft Corporation', 'https'],
    ]);
    await store.close();
  });

  test(`${name}: the raw report is kept compressed, byte for byte`, async () => {
    const { store } = await open();
    const report = toStore(microsoftReport());
    await store.add(report);
    assert.deepEqual(await store.rawReport('Microsoft Corporation', microsoftReport()['report-id']), report.compressed);
    assert.equal(await store.rawReport('Microsoft Corporation', 'no-such-id'), undefined);
    await store.close();
  });

  test(`${name}: queries filter by domain and by the reports' own date ranges; prune deletes what ended before the day`, async () => {
    const { store } = await open();
    await store.add(toStore(microsoftReport({ reportId: 'old', day: '2026-10-01' })));
    await store.add(toStore(microsoftReport({ reportId: 'new', day: '2026-11-20' })));
    await store.add(toStore(microsoftReport({ reportId: 'other', domain: 'example.org', day: '2026-11-20' })));
    await store.addRejected({
      via: 'smtp',
      receivedAt: '2026-10-01T10:00:00.000Z',
      reason: 'old junk',
      mediaType: 'message/rfc822',
      raw: Buffer.from('x'),
      size: 1,
    });
    await store.addRejected({
      via: 'https',
      receivedAt: '2026-11-20T10:00:00.000Z',
      reason: 'new junk',
      mediaType: 'application/tlsrpt+json',
      raw: Buffer.from('{'),
      size: 1,
    });
    assert.deepEqual(
      (await store.policyResults({ sinceDay: '2026-11-01' })).map((result) => result.reportId),
      ['new', 'other'],
    );
    assert.deepEqual(
      (await store.policyResults({ sinceDay: '2026-01-01', domain: 'example.com' })).map((result) => result.reportId),
      ['old', 'new'],
    );
    assert.deepEqual(
      (await store.rejected({ sinceDay: '2026-11-01' })).map((rejected) => rejected.reason),
      ['new junk'],
    );
    assert.equal(await store.prune('2026-11-01'), 2);
    assert.deepEqual(
      (await store.policyResults({ sinceDay: '2000-01-01' })).map((result) => result.reportId),
      ['new', 'other'],
    );
    assert.deepEqual(
      (await store.rejected({ sinceDay: '2000-01-01' })).map((rejected) => rejected.reason),
      ['new junk'],
    );
    // A pruned report may arrive again (a late retry) and is stored again.
    assert.equal(await store.add(toStore(microsoftReport({ reportId: 'old', day: '2026-10-01' }))), true);
    await store.close();
  });

  test(`${name}: a rejected report is kept with its reason, media type and size`, async () => {
    const { store } = await open();
    await store.addRejected({
      via: 'imap',
      receivedAt: '2026-11-20T10:00:00.000Z',
      reason: 'gzip data is truncated',
      mediaType: 'application/tlsrpt+gzip',
      raw: Buffer.alloc(10),
      size: 99,
    });
    assert.deepEqual(await store.rejected({ sinceDay: '2026-11-20' }), [
      {
        via: 'imap',
        receivedAt: '2026-11-20T10:00:00.000Z',
        reason: 'gzip data is truncated',
        mediaType: 'application/tlsrpt+gzip',
        size: 99,
      },
    ]);
    await store.close();
  });
}
