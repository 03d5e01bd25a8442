import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DomainHistory } from '../../src/policy/retirement.js';
import type { PolicyHistoryStore } from '../../src/storage/policy-history-store.js';

const record = (id: string, mode: 'enforce' | 'testing' | 'none', lastServed: number) => ({
  id,
  mode,
  maxAge: 604_800,
  body: `version: STSv1\r\nmode: ${mode}\r\nmax_age: 604800\r\n`,
  firstServed: lastServed - 86_400_000,
  lastServed,
});

/**
 * What every PolicyHistoryStore must do (src/storage/policy-history-store.ts): run by each
 * backend's test file with a factory that makes a fresh, empty store; `reopen` gives another
 * client of the same data, as a restart or another replica sees it.
 */
export function policyHistoryConformance(
  name: string,
  makeStore: () => Promise<{ store: PolicyHistoryStore; reopen(): Promise<PolicyHistoryStore> }>,
): void {
  describe(`PolicyHistoryStore conformance: ${name}`, () => {
    test('an empty store has no histories and no problems', async () => {
      const { store } = await makeStore();
      assert.deepEqual(await store.loadAll(), { histories: [], problems: [] });
    });

    test('what is saved is loaded back exactly, by another client too, one history per domain', async () => {
      const { store, reopen } = await makeStore();
      const com: DomainHistory = {
        domain: 'example.com',
        policies: [
          record('a1', 'testing', Date.parse('2026-11-01T10:00:00.123Z')),
          record('b2', 'enforce', Date.parse('2026-12-01T10:00:00Z')),
        ],
      };
      const org: DomainHistory = {
        domain: 'xn--bcher-kva.example',
        policies: [record('c3', 'none', Date.parse('2026-12-01T11:00:00Z'))],
      };
      await store.save(com);
      await store.save(org);
      const loaded = await (await reopen()).loadAll();
      assert.deepEqual(loaded.problems, []);
      assert.deepEqual(
        loaded.histories.sort((a, b) => a.domain.localeCompare(b.domain)),
        [com, org],
      );
    });

    test('a save replaces the domain history as a whole', async () => {
      const { store, reopen } = await makeStore();
      await store.save({ domain: 'example.com', policies: [record('a1', 'testing', 1_000), record('b2', 'enforce', 2_000)] });
      const replaced: DomainHistory = { domain: 'example.com', policies: [record('c3', 'enforce', 3_000)] };
      await store.save(replaced);
      assert.deepEqual(await (await reopen()).loadAll(), { histories: [replaced], problems: [] });
    });

    test('close writes what the store was handed before it', async () => {
      const { store, reopen } = await makeStore();
      const history: DomainHistory = { domain: 'example.com', policies: [record('a1', 'enforce', 1_000)] };
      const saved = store.save(history);
      await store.close();
      await saved;
      assert.deepEqual(await (await reopen()).loadAll(), { histories: [history], problems: [] });
    });
  });
}
