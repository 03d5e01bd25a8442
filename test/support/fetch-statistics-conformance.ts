import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_ADDRESSES_PER_DAY,
  type DailyFetches,
  type FetchStatisticsStore,
  type ProviderFetchStatistics,
} from '../../src/storage/fetch-statistics-store.js';

/** A fresh, empty store under test, and how to open it again on the same data (a restart, or another replica). */
export interface StatisticsStoreUnderTest {
  store: FetchStatisticsStore;
  reopen(): Promise<FetchStatisticsStore>;
}

/** One provider's fetches of one domain on one day, as a recorder's batch carries them. */
function day(
  dayText: string,
  provider: string,
  fetches: { at: string; address: string; policyId: string; claimed?: boolean }[],
  domain = 'example.com',
): DailyFetches {
  const sorted = [...fetches].sort((a, b) => a.at.localeCompare(b.at));
  const byPolicyId = new Map<string, number>();
  for (const { policyId } of sorted) byPolicyId.set(policyId, (byPolicyId.get(policyId) ?? 0) + 1);
  return {
    day: dayText,
    domain,
    provider,
    fetches: sorted.length,
    claimed: sorted.filter((fetch) => fetch.claimed).length,
    firstSeen: sorted[0]!.at,
    lastSeen: sorted.at(-1)!.at,
    lastPolicyId: sorted.at(-1)!.policyId,
    addresses: new Set(sorted.map((fetch) => fetch.address)),
    fetchesByPolicyId: byPolicyId,
  };
}

const sorted = (rows: ProviderFetchStatistics[]) =>
  [...rows].sort((a, b) => `${a.domain} ${a.provider}`.localeCompare(`${b.domain} ${b.provider}`));

/**
 * What every FetchStatisticsStore must do, whatever keeps the data (the contract in
 * src/storage/fetch-statistics-store.ts): run by each implementation's test file with a factory
 * that opens a fresh, empty store. A store shared by replicas passes it with `reopen` opening
 * another replica's connection.
 */
export function fetchStatisticsConformance(name: string, open: () => Promise<StatisticsStoreUnderTest>): void {
  describe(`${name} (FetchStatisticsStore conformance)`, () => {
    test('batches for the same day add up (every replica adds its own): counts, addresses, first and last seen, policy ids', async () => {
      const { store, reopen } = await open();
      await store.add([
        day('2026-11-28', 'google', [
          { at: '2026-11-28T09:00:00.000Z', address: '209.85.220.41', policyId: 'id-1' },
          { at: '2026-11-28T12:00:00.000Z', address: '209.85.220.42', policyId: 'id-2', claimed: true },
        ]),
      ]);
      const replica = await reopen();
      await replica.add([
        day('2026-11-28', 'google', [
          { at: '2026-11-28T08:00:00.000Z', address: '209.85.220.41', policyId: 'id-1' },
          { at: '2026-11-28T10:00:00.000Z', address: '2a00:1450:4864:20::536', policyId: 'id-1' },
        ]),
      ]);
      assert.deepEqual(await store.query({ sinceDay: '2026-11-01' }), [
        {
          domain: 'example.com',
          provider: 'google',
          fetches: 4,
          claimed: 1,
          addresses: 3,
          addressesCapped: false,
          firstSeen: '2026-11-28T08:00:00.000Z',
          // The later batch ended earlier: the last fetch and its policy id stay those of the first batch.
          lastSeen: '2026-11-28T12:00:00.000Z',
          lastPolicyId: 'id-2',
          fetchesByPolicyId: { 'id-1': 3, 'id-2': 1 },
        },
      ]);
      await Promise.all([store.close(), replica.close()]);
    });

    test('a batch is stored whole or not at all', async () => {
      const { store } = await open();
      const good = day('2026-11-28', 'google', [{ at: '2026-11-28T09:00:00.000Z', address: '209.85.220.41', policyId: 'id-1' }]);
      // The second row fails while it is read, after the first row was added in the same batch.
      const failing: DailyFetches = {
        ...day('2026-11-28', 'microsoft', [{ at: '2026-11-28T09:00:00.000Z', address: '104.47.18.100', policyId: 'id-1' }]),
        addresses: new (class extends Set<string> {
          override *[Symbol.iterator](): SetIterator<string> {
            yield '104.47.18.100';
            throw new Error('batch broken halfway');
          }
          override values(): SetIterator<string> {
            return this[Symbol.iterator]();
          }
        })(['104.47.18.100']),
      };
      await assert.rejects(store.add([good, failing]), /batch broken halfway/);
      assert.deepEqual(await store.query({ sinceDay: '2026-11-01' }), []);
      await store.add([good]);
      assert.equal((await store.query({ sinceDay: '2026-11-01' }))[0]?.fetches, 1);
      await store.close();
    });

    test('query: totals over the days from sinceDay on, per domain and provider, optionally for one domain; addresses distinct over the period', async () => {
      const { store } = await open();
      await store.add([
        day('2026-11-26', 'google', [{ at: '2026-11-26T10:00:00.000Z', address: '209.85.220.41', policyId: 'id-0' }]),
        day('2026-11-27', 'google', [{ at: '2026-11-27T10:00:00.000Z', address: '209.85.220.41', policyId: 'id-1' }]),
        day('2026-11-28', 'google', [{ at: '2026-11-28T10:00:00.000Z', address: '209.85.220.43', policyId: 'id-1' }]),
        day(
          '2026-11-28',
          'unknown',
          [{ at: '2026-11-28T11:00:00.000Z', address: '203.0.113.7', policyId: 'id-9' }],
          'example.org',
        ),
      ]);
      const since27 = sorted(await store.query({ sinceDay: '2026-11-27' }));
      assert.deepEqual(
        since27.map((row) => [
          row.domain,
          row.provider,
          row.fetches,
          row.addresses,
          row.firstSeen,
          row.lastPolicyId,
          row.fetchesByPolicyId,
        ]),
        [
          ['example.com', 'google', 2, 2, '2026-11-27T10:00:00.000Z', 'id-1', { 'id-1': 2 }],
          ['example.org', 'unknown', 1, 1, '2026-11-28T11:00:00.000Z', 'id-9', { 'id-9': 1 }],
        ],
      );
      assert.deepEqual(
        (await store.query({ sinceDay: '2026-11-01', domain: 'example.org' })).map((row) => row.provider),
        ['unknown'],
      );
      assert.deepEqual(await store.query({ sinceDay: '2026-11-01', domain: 'example.net' }), []);
      // One day alone, as the dashboard's daily bars ask for it.
      assert.deepEqual(
        sorted(await store.query({ sinceDay: '2026-11-27', untilDay: '2026-11-27' })).map((row) => [
          row.domain,
          row.fetches,
          row.lastSeen,
        ]),
        [['example.com', 1, '2026-11-27T10:00:00.000Z']],
      );
      assert.deepEqual(await store.query({ sinceDay: '2026-11-29' }), []);
      await store.close();
    });

    test(`addresses are kept up to ${MAX_ADDRESSES_PER_DAY} per day over all batches, and the day is marked when more came`, async () => {
      const { store } = await open();
      const many = (from: number, count: number) =>
        Array.from({ length: count }, (_, index) => ({
          at: '2026-11-28T10:00:00.000Z',
          address: `10.0.${(from + index) >> 8}.${(from + index) & 255}`,
          policyId: 'id-1',
        }));
      await store.add([day('2026-11-28', 'unknown', many(0, MAX_ADDRESSES_PER_DAY - 1))]);
      let [row] = await store.query({ sinceDay: '2026-11-28' });
      assert.deepEqual([row?.addresses, row?.addressesCapped], [MAX_ADDRESSES_PER_DAY - 1, false]);
      await store.add([day('2026-11-28', 'unknown', many(MAX_ADDRESSES_PER_DAY - 1, 2))]);
      [row] = await store.query({ sinceDay: '2026-11-28' });
      assert.deepEqual(
        [row?.addresses, row?.addressesCapped, row?.fetches],
        [MAX_ADDRESSES_PER_DAY, true, MAX_ADDRESSES_PER_DAY + 1],
      );
      await store.close();
    });

    test('prune deletes the days before a day, says how many day rows went, and what is stored survives a reopen', async () => {
      const { store, reopen } = await open();
      await store.add([
        day('2026-11-26', 'google', [{ at: '2026-11-26T10:00:00.000Z', address: '209.85.220.41', policyId: 'id-1' }]),
        day('2026-11-26', 'yahoo', [{ at: '2026-11-26T10:00:00.000Z', address: '98.136.0.1', policyId: 'id-1' }]),
        day('2026-11-28', 'google', [{ at: '2026-11-28T10:00:00.000Z', address: '209.85.220.42', policyId: 'id-2' }]),
      ]);
      assert.equal(await store.prune('2026-11-27'), 2);
      assert.equal(await store.prune('2026-11-27'), 0);
      await store.close();
      const reopened = await reopen();
      assert.deepEqual(
        (await reopened.query({ sinceDay: '2000-01-01' })).map((row) => [
          row.provider,
          row.fetches,
          row.addresses,
          row.lastPolicyId,
        ]),
        [['google', 1, 1, 'id-2']],
      );
      await reopened.close();
    });
  });
}
