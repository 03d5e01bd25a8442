import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import {
  FetchStatisticsRecorder,
  isCountedFetch,
  startFetchStatistics,
  type CountedFetch,
} from '../src/fetches/fetch-statistics.js';
import { createLogger } from '../src/log/logger.js';
import { MAX_ADDRESSES_PER_DAY, type ProviderFetchStatistics } from '../src/storage/fetch-statistics-store.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { daysBefore, utcDay } from '../src/time/days.js';
import { LogCapture } from './support/log-capture.js';
import { googleFetch } from './support/policy-fetches.js';

// The statistics recorder in process over the real SQLite store in a scratch directory: what one
// batch holds, when batches are written, a batch the database refuses, retention, and start-up.

const scratch = () => mkdtemp(join(tmpdir(), 'mta-sts-recorder-'));

function fetchAt(
  at: string,
  provider: string,
  ip: string,
  policyId: string,
  claimed = false,
  domain = 'example.com',
): CountedFetch {
  return { atMs: Date.parse(at), domain, provider, ip, policyId, claimed };
}

const byKey = (rows: ProviderFetchStatistics[]) =>
  [...rows].sort((a, b) => `${a.domain} ${a.provider}`.localeCompare(`${b.domain} ${b.provider}`));

/** A recorder over a fresh SQLite store, its log captured. */
async function recorderOnDisk(options: { flushIntervalMs?: number; retentionDays?: number } = {}) {
  const stateDir = await scratch();
  const store = SqliteFetchStatistics.open(stateDir);
  const log = new LogCapture();
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: options.flushIntervalMs ?? 60_000,
    retentionDays: options.retentionDays ?? 400,
    log: createLogger('debug', log),
  });
  return { stateDir, store, log, recorder };
}

/** Someone's sqlite3 shell holding the write lock on the state database until `release()`. */
function holdWriteLock(stateDir: string): { release(): void } {
  const other = new Database(stateDatabasePath(stateDir));
  other.exec('BEGIN IMMEDIATE');
  return {
    release() {
      other.exec('COMMIT');
      other.close();
    },
  };
}

const policyFetch = googleFetch;

test('isCountedFetch: a GET answered with a policy of ours, nothing else (RFC 8461 §3.3: what a sender caches)', () => {
  assert.equal(isCountedFetch({ method: 'GET', domain: 'example.com', policyId: 'id-1' }), true);
  assert.equal(isCountedFetch({ method: 'HEAD', domain: 'example.com', policyId: 'id-1' }), false);
  assert.equal(isCountedFetch({ method: 'GET', domain: null, policyId: 'id-1' }), false);
  assert.equal(isCountedFetch({ method: 'GET', domain: 'example.com', policyId: null }), false);
});

test('one batch: summed per day, domain and provider, with first and last seen and the last fetch’s policy id, in any order', async () => {
  const { store, recorder } = await recorderOnDisk();
  // Out of order, as fetches attributed late by reverse DNS come in.
  recorder.record(fetchAt('2026-11-28T10:00:00Z', 'google', '209.85.220.41', 'id-2'));
  recorder.record(fetchAt('2026-11-28T09:00:00Z', 'google', '209.85.220.42', 'id-1', true));
  recorder.record(fetchAt('2026-11-28T11:00:00Z', 'google', '209.85.220.41', 'id-3'));
  recorder.record(fetchAt('2026-11-28T08:00:00Z', 'google', '209.85.220.43', 'id-1'));
  recorder.record(fetchAt('2026-11-28T11:00:00Z', 'google', '209.85.220.41', 'id-4'));
  recorder.record(fetchAt('2026-11-27T23:59:59Z', 'google', '209.85.220.41', 'id-0'));
  recorder.record(fetchAt('2026-11-28T12:00:00Z', 'microsoft', '104.47.1.2', 'id-4', true, 'example.org'));
  await recorder.flush();
  assert.deepEqual(byKey(await store.query({ sinceDay: '2026-11-28' })), [
    {
      domain: 'example.com',
      provider: 'google',
      fetches: 5,
      claimed: 1,
      addresses: 3,
      addressesCapped: false,
      firstSeen: '2026-11-28T08:00:00.000Z',
      lastSeen: '2026-11-28T11:00:00.000Z',
      // Two fetches at the same last moment: the one recorded later.
      lastPolicyId: 'id-4',
      fetchesByPolicyId: { 'id-1': 2, 'id-2': 1, 'id-3': 1, 'id-4': 1 },
    },
    {
      domain: 'example.org',
      provider: 'microsoft',
      fetches: 1,
      claimed: 1,
      addresses: 1,
      addressesCapped: false,
      firstSeen: '2026-11-28T12:00:00.000Z',
      lastSeen: '2026-11-28T12:00:00.000Z',
      lastPolicyId: 'id-4',
      fetchesByPolicyId: { 'id-4': 1 },
    },
  ]);
  // The fetch just before midnight (UTC) is the day before's.
  const before = await store.query({ sinceDay: '2026-11-27' });
  assert.equal(before.find((row) => row.provider === 'google')!.firstSeen, '2026-11-27T23:59:59.000Z');
  assert.equal(before.find((row) => row.provider === 'google')!.fetches, 6);
  await recorder.close();
});

test('attributed: the pipeline’s final attribution is counted now, under its provider, only for a GET answered with a policy', async () => {
  const { stateDir, recorder } = await recorderOnDisk();
  const startedMs = Date.now();
  recorder.attributed(policyFetch({}), { provider: 'google', claimed: false });
  recorder.attributed(policyFetch({ ip: '203.0.113.7' }), { provider: 'unknown', claimed: true });
  recorder.attributed(policyFetch({ method: 'HEAD' }), { provider: 'google', claimed: false });
  recorder.attributed(policyFetch({ domain: null, status: 404, policyId: null }), { provider: 'google', claimed: false });
  await recorder.close();
  const reader = SqliteFetchStatistics.openReadOnly(stateDir);
  const rows = byKey(await reader.query({ sinceDay: utcDay(new Date(startedMs)) }));
  await reader.close();
  assert.deepEqual(
    rows.map((row) => [row.domain, row.provider, row.fetches, row.claimed, row.addresses, row.lastPolicyId]),
    [
      ['example.com', 'google', 1, 0, 1, 'id-1'],
      ['example.com', 'unknown', 1, 1, 1, 'id-1'],
    ],
  );
  const seen = Date.parse(rows[0]!.lastSeen);
  assert.ok(seen >= startedMs && seen <= Date.now(), rows[0]!.lastSeen);
});

test('batches are written every flush interval without being asked, and a close writes the last one', async () => {
  const { stateDir, store, log, recorder } = await recorderOnDisk({ flushIntervalMs: 50 });
  await recorder.start();
  recorder.record(fetchAt('2026-11-28T10:00:00Z', 'google', '209.85.220.41', 'id-1'));
  const written = await log.waitFor((line) => line.event === 'fetch_statistics_written', 2_000);
  assert.deepEqual([written.rows, written.fetches, written.msg], [1, 1, 'fetch statistics written']);
  assert.equal((await store.query({ sinceDay: '2026-11-28' }))[0]!.fetches, 1);
  // An interval with nothing new writes nothing.
  const writes = log.events('fetch_statistics_written').length;
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(log.events('fetch_statistics_written').length, writes);

  recorder.record(fetchAt('2026-11-28T10:00:01Z', 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt('2026-11-28T10:00:02Z', 'microsoft', '104.47.1.2', 'id-1'));
  await recorder.close();
  const last = log.events('fetch_statistics_written').at(-1)!;
  assert.deepEqual([last.rows, last.fetches], [2, 2]);
  const reader = SqliteFetchStatistics.openReadOnly(stateDir);
  assert.deepEqual(
    byKey(await reader.query({ sinceDay: '2026-11-28' })).map((row) => [row.provider, row.fetches]),
    [
      ['google', 2],
      ['microsoft', 1],
    ],
  );
  await reader.close();
  // Closed: the interval is gone and so is the store.
  await assert.rejects(store.query({ sinceDay: '2026-11-28' }));
});

test('a batch the database refuses is kept, logged once per outage, and written merged with the next one', async () => {
  const { stateDir, store, log, recorder } = await recorderOnDisk();
  // Started first: its prune at start goes through, so the error below is the batch's.
  await recorder.start();
  const lock = holdWriteLock(stateDir);
  recorder.record(fetchAt('2026-11-28T09:00:00Z', 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt('2026-11-28T12:00:00Z', 'google', '209.85.220.42', 'id-2', true));
  await recorder.flush();
  const [error] = log.events('fetch_statistics_error');
  assert.equal(error?.pending_fetches, 2);
  assert.match(String(error?.error), /locked/);
  assert.equal(error?.msg, 'fetch statistics not written; kept in memory and retried with the next batch');
  assert.equal(error?.level, 'error');

  // Still locked: the batch grows, and the outage is not logged again.
  recorder.record(fetchAt('2026-11-28T10:00:00Z', 'google', '209.85.220.43', 'id-3'));
  await recorder.flush();
  assert.equal(log.events('fetch_statistics_error').length, 1);
  assert.equal(log.events('fetch_statistics_recovered').length, 0);
  lock.release();

  // What came since: an earlier first fetch, a later last one, an address already kept, another day.
  recorder.record(fetchAt('2026-11-28T08:00:00Z', 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt('2026-11-28T13:00:00Z', 'google', '209.85.220.44', 'id-4'));
  recorder.record(fetchAt('2026-11-29T01:00:00Z', 'google', '209.85.220.41', 'id-4'));
  await recorder.flush();
  const recovered = log.events('fetch_statistics_recovered');
  assert.deepEqual(
    recovered.map((line) => [line.fetches, line.msg, line.level]),
    [[6, 'fetch statistics written again', 'info']],
  );
  assert.deepEqual(byKey(await store.query({ sinceDay: '2026-11-28' })), [
    {
      domain: 'example.com',
      provider: 'google',
      fetches: 6,
      claimed: 1,
      addresses: 4,
      addressesCapped: false,
      firstSeen: '2026-11-28T08:00:00.000Z',
      lastSeen: '2026-11-29T01:00:00.000Z',
      lastPolicyId: 'id-4',
      fetchesByPolicyId: { 'id-1': 2, 'id-2': 1, 'id-3': 1, 'id-4': 2 },
    },
  ]);
  // Written: the next batch is not a recovery.
  recorder.record(fetchAt('2026-11-29T02:00:00Z', 'google', '209.85.220.41', 'id-4'));
  await recorder.flush();
  assert.equal(log.events('fetch_statistics_recovered').length, 1);
  await recorder.close();
});

test('a refused batch keeps its last policy id when what came since was earlier, and its mark of addresses left out', async () => {
  const { stateDir, store, recorder } = await recorderOnDisk();
  await recorder.start();
  const lock = holdWriteLock(stateDir);
  const address = (n: number) => `198.18.${n >> 8}.${n & 255}`;
  for (let n = 0; n < MAX_ADDRESSES_PER_DAY + 5; n++) {
    recorder.record(fetchAt('2026-11-28T12:00:00Z', 'unknown', address(n), 'id-late'));
    recorder.record(fetchAt('2026-11-28T12:00:00Z', 'google', address(n), 'id-late'));
  }
  await recorder.flush();
  lock.release();
  // Since: an earlier fetch from an address the batch kept (no new address, so only the batch's mark says some were left out).
  recorder.record(fetchAt('2026-11-28T11:00:00Z', 'unknown', address(0), 'id-early'));
  // A fetch at the same moment as the batch's last, recorded after it: its policy id is the last.
  recorder.record(fetchAt('2026-11-28T12:00:00Z', 'google', address(0), 'id-same-time'));
  await recorder.flush();
  const rows = byKey(await store.query({ sinceDay: '2026-11-28' }));
  assert.deepEqual(
    rows.map((row) => [
      row.provider,
      row.fetches,
      row.addresses,
      row.addressesCapped,
      row.firstSeen,
      row.lastSeen,
      row.lastPolicyId,
    ]),
    [
      [
        'google',
        MAX_ADDRESSES_PER_DAY + 6,
        MAX_ADDRESSES_PER_DAY,
        true,
        '2026-11-28T12:00:00.000Z',
        '2026-11-28T12:00:00.000Z',
        'id-same-time',
      ],
      [
        'unknown',
        MAX_ADDRESSES_PER_DAY + 6,
        MAX_ADDRESSES_PER_DAY,
        true,
        '2026-11-28T11:00:00.000Z',
        '2026-11-28T12:00:00.000Z',
        'id-late',
      ],
    ],
  );
  await recorder.close();
});

test('retention: days before it are deleted at start and once a day, not at every batch; a failed prune is logged', async () => {
  const { stateDir, store, log, recorder } = await recorderOnDisk({ retentionDays: 30 });
  const now = new Date();
  const old = daysBefore(now, 31);
  const kept = daysBefore(now, 30);
  recorder.record(fetchAt(`${old}T12:00:00Z`, 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt(`${kept}T12:00:00Z`, 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt(`${kept}T12:00:00Z`, 'microsoft', '104.47.1.2', 'id-1'));
  // Written before start (a first flush prunes, too, but finds nothing yet).
  await recorder.flush();
  assert.equal(log.events('fetch_statistics_pruned').length, 0, 'nothing to delete: no line');

  // A second recorder, as the service after a restart the next day.
  const restarted = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 30,
    log: createLogger('debug', log),
  });
  await restarted.start();
  assert.deepEqual(
    log.events('fetch_statistics_pruned').map((line) => [line.before, line.rows, line.msg, line.level]),
    [[kept, 1, `fetch statistics before ${kept} deleted (retention 30 days)`, 'info']],
  );
  assert.deepEqual(
    byKey(await store.query({ sinceDay: old })).map((row) => [row.provider, row.firstSeen.slice(0, 10)]),
    [
      ['google', kept],
      ['microsoft', kept],
    ],
  );
  // The same day, a batch does not prune again.
  restarted.record(fetchAt(`${old}T13:00:00Z`, 'google', '209.85.220.41', 'id-1'));
  await restarted.flush();
  assert.equal((await store.query({ sinceDay: old })).find((row) => row.provider === 'google')!.firstSeen.slice(0, 10), old);
  assert.equal(log.events('fetch_statistics_pruned').length, 1);

  // A prune the database refuses is logged; the start goes on.
  const lock = holdWriteLock(stateDir);
  const third = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 30,
    log: createLogger('debug', log),
  });
  await third.start();
  lock.release();
  assert.deepEqual(
    log.events('fetch_statistics_error').map((line) => [line.msg, line.level, /locked/.test(String(line.error))]),
    [['old fetch statistics not deleted', 'error', true]],
  );
  await restarted.close();
});

test('startFetchStatistics: a store that cannot be opened leaves the service without statistics, and says so', async () => {
  const log = new LogCapture();
  const none = await startFetchStatistics(
    () => Promise.reject(new Error('unable to open database file')),
    { flush_interval_s: 60, retention_days: 400 },
    createLogger('info', log),
  );
  assert.equal(none, undefined);
  assert.deepEqual(
    log.lines.map((line) => [line.level, line.event, line.error, line.msg]),
    [
      [
        'error',
        'fetch_statistics_unavailable',
        'unable to open database file',
        'fetch statistics are off until the state database can be opened; the policies are served as usual',
      ],
    ],
  );
});

test('startFetchStatistics: started over the store, with the settings in seconds and days', async () => {
  const stateDir = await scratch();
  const seed = SqliteFetchStatistics.open(stateDir);
  const longAgo = daysBefore(new Date(), 3);
  await seed.add([
    {
      day: longAgo,
      domain: 'example.com',
      provider: 'google',
      fetches: 1,
      claimed: 0,
      firstSeen: `${longAgo}T00:00:00.000Z`,
      lastSeen: `${longAgo}T00:00:00.000Z`,
      lastPolicyId: 'id-1',
      addresses: new Set(['209.85.220.41']),
      fetchesByPolicyId: new Map([['id-1', 1]]),
    },
  ]);
  await seed.close();
  const log = new LogCapture();
  const recorder = await startFetchStatistics(
    async () => SqliteFetchStatistics.open(stateDir),
    { flush_interval_s: 0.5, retention_days: 2 },
    createLogger('debug', log),
  );
  assert.ok(recorder);
  assert.equal(log.events('fetch_statistics_pruned')[0]?.rows, 1);
  const recordedMs = performance.now();
  recorder.record(fetchAt(new Date().toISOString(), 'google', '209.85.220.41', 'id-1'));
  await log.waitFor((line) => line.event === 'fetch_statistics_written', 5_000);
  // Half a second, not half a millisecond.
  assert.ok(performance.now() - recordedMs >= 400, `written after ${performance.now() - recordedMs} ms`);
  await recorder.close();
});
