import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { FetchStatisticsRecorder } from '../src/fetches/fetch-statistics.js';
import { MAX_ADDRESSES_PER_DAY, type DailyFetches, type FetchStatisticsStore } from '../src/storage/fetch-statistics-store.js';
import { utcDay } from '../src/time/days.js';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { createLogger } from '../src/log/logger.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { writeTestConfig } from './support/service.js';

// A flood from many addresses: the statistics count every fetch but keep at most 1 000 addresses
// per domain, provider and day, and say when the address figure is a lower bound.

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const POLICY_ID = 'a5963b31a082635c6ec66817';

/** Address `n` of 198.18.0.0/15 (the benchmarking range). */
const address = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;

/** A store that keeps the batches it is given, to see what the recorder holds in memory. */
class BatchesSeen implements FetchStatisticsStore {
  readonly batches: DailyFetches[][] = [];
  async add(batch: readonly DailyFetches[]): Promise<void> {
    this.batches.push([...batch]);
  }
  async query(): Promise<never[]> {
    return [];
  }
  async prune(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}
}

/** Every fetch of the test at one time: a run across midnight (UTC) still fills one day. */
const AT_MS = Date.now();

function recordFrom(recorder: FetchStatisticsRecorder, addresses: number[], provider = 'unknown'): void {
  for (const n of addresses)
    recorder.record({ atMs: AT_MS, domain: 'example.com', provider, ip: address(n), policyId: POLICY_ID, claimed: false });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test('the recorder keeps at most 1 000 addresses per day, domain and provider in memory, and marks the day', async () => {
  const store = new BatchesSeen();
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 400,
    log: createLogger('silent'),
  });
  recordFrom(recorder, range(0, 5_000));
  recordFrom(recorder, range(0, 10)); // addresses already kept, again
  recordFrom(recorder, range(0, 999), 'google');
  await recorder.flush();
  const rows = store.batches[0]!.map((row) => [row.provider, row.fetches, row.addresses.size, row.addressesCapped]);
  assert.deepEqual(rows, [
    ['unknown', 5_010, MAX_ADDRESSES_PER_DAY, true],
    ['google', 999, 999, false],
  ]);
});

test('the SQLite store holds the cap over the day’s batches; stats says 1000+ and addresses_capped', async () => {
  const { dir, configPath } = await writeTestConfig(
    `domains:\n  example.com: { mode: testing, mx: [mail.example.com] }\nstate_dir: state\n`,
  );
  const stateDir = join(dir, 'state');
  const store = SqliteFetchStatistics.open(stateDir);
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 400,
    log: createLogger('silent'),
  });
  // Two batches of 600 new addresses each: each fits the recorder's cap, together they pass the day's.
  recordFrom(recorder, range(0, 600));
  recordFrom(recorder, range(0, 999), 'google');
  await recorder.flush();
  recordFrom(recorder, range(600, 1_200));
  // Addresses already stored, and the provider below the cap, come in again: nothing is capped for them.
  recordFrom(recorder, range(0, 999), 'google');
  await recorder.flush();
  // A later batch of addresses all stored already leaves the mark as it is.
  recordFrom(recorder, range(0, 100));
  await recorder.close();

  const database = new Database(stateDatabasePath(stateDir), { readonly: true });
  const stored = database
    .prepare('SELECT provider, count(*) AS addresses FROM fetch_day_addresses GROUP BY provider ORDER BY provider')
    .all();
  database.close();
  assert.deepEqual(stored, [
    { provider: 'google', addresses: 999 },
    { provider: 'unknown', addresses: MAX_ADDRESSES_PER_DAY },
  ]);

  const reader = SqliteFetchStatistics.openReadOnly(stateDir);
  const rows = await reader.query({ sinceDay: utcDay(new Date(AT_MS)) });
  await reader.close();
  assert.deepEqual(rows.map((row) => [row.provider, row.fetches, row.addresses, row.addressesCapped]).sort(), [
    ['google', 1_998, 999, false],
    ['unknown', 1_300, MAX_ADDRESSES_PER_DAY, true],
  ]);

  const json = spawnSync(process.execPath, [MAIN, 'stats', '--config', configPath, '--json'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const providers = (JSON.parse(json.stdout) as { domains: { providers: Record<string, unknown>[] }[] }).domains[0]!.providers;
  assert.deepEqual(
    providers.map((row) => [row.provider, row.addresses, row.addresses_capped]),
    [
      ['google', 999, false],
      ['unknown', 1_000, true],
    ],
  );
  const table = spawnSync(process.execPath, [MAIN, 'stats', '--config', configPath], { encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /\n {2}Unknown +1300 +1000\+ /);
  assert.match(table.stdout, /\n {2}Google +1998 +999 /);
});
