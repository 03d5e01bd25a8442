import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyLifecycle, SAVE_CONCURRENCY } from '../src/lifecycle/policy-lifecycle.js';
import { createLogger } from '../src/log/logger.js';
import type { DomainPolicy, PolicyMode } from '../src/policy/policy.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { SERVED_RECORD_INTERVAL_MS, type DomainHistory } from '../src/policy/retirement.js';
import type { PolicyHistoryStore } from '../src/storage/policy-history-store.js';

// When the lifecycle writes policy histories: a hosting provider's 100 000 domains must not be
// 100 000 synced writes at every start and stop, and writes that overlap must still leave each
// domain's newest history in the store.

const START = Date.parse('2026-12-01T10:00:00Z');

const domain = (name: string, mode: PolicyMode = 'testing'): DomainPolicy => ({
  name,
  policy: { mode, mx: [], maxAge: 604_800 },
  tlsRptRua: [],
});

/** A store in memory that records every write; `hold` keeps the next write of a domain pending until `release`. */
class RecordingStore implements PolicyHistoryStore {
  readonly stored = new Map<string, DomainHistory>();
  readonly writes: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Writes in flight when the store was closed: the lifecycle must close it only after its last write. */
  closedWith: number | undefined;
  private heldDomain: string | undefined;
  private readonly held: (() => void)[] = [];

  constructor(histories: DomainHistory[] = []) {
    for (const history of histories) this.stored.set(history.domain, history);
  }

  async loadAll() {
    return { histories: [...this.stored.values()], problems: [] };
  }

  async save(history: DomainHistory): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (history.domain === this.heldDomain) {
      this.heldDomain = undefined;
      await new Promise<void>((resolve) => this.held.push(resolve));
    }
    // A write takes a turn of the event loop, as a file write does.
    else await new Promise((resolve) => setImmediate(resolve));
    this.writes.push(history.domain);
    this.stored.set(history.domain, history);
    this.inFlight--;
  }

  async close(): Promise<void> {
    this.closedWith = this.inFlight;
  }

  hold(domain: string): void {
    this.heldDomain = domain;
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

async function openLifecycle(store: RecordingStore, clock: { now: number }) {
  return PolicyLifecycle.open({ store, log: createLogger('silent'), retireRemoved: true, now: () => clock.now });
}

/** Starts serving `domains` as the service does: the lifecycle records what is served. */
function serve(lifecycle: PolicyLifecycle, domains: DomainPolicy[]) {
  const policies = new PolicySet(lifecycle.domainsToServe(domains));
  lifecycle.start({ policies: () => policies, refresh: () => undefined });
}

/** A reload: the new config's policies are served. */
function reload(lifecycle: PolicyLifecycle, domains: DomainPolicy[]) {
  lifecycle.served(new PolicySet(lifecycle.domainsToServe(domains)));
}

test('a first start writes every new history; a restart within the interval writes none, not even at the stop', async () => {
  const clock = { now: START };
  const store = new RecordingStore();
  const policies = [domain('example.com'), domain('example.org', 'enforce')];
  const first = await openLifecycle(store, clock);
  serve(first, policies);
  await first.close();
  assert.deepEqual(store.writes.sort(), ['example.com', 'example.org']);
  assert.equal(store.closedWith, 0, 'the store is closed once its writes are done');

  store.writes.length = 0;
  clock.now = START + SERVED_RECORD_INTERVAL_MS - 1;
  const second = await openLifecycle(store, clock);
  serve(second, policies);
  await second.close();
  assert.deepEqual(store.writes, []);
  // The stored record is the one the first run wrote: served until its start.
  assert.equal(store.stored.get('example.com')!.policies.at(-1)!.lastServed, START);
});

test('a restart an interval after the last write records the policies still served', async () => {
  const clock = { now: START };
  const store = new RecordingStore();
  const policies = [domain('example.com')];
  const first = await openLifecycle(store, clock);
  serve(first, policies);
  await first.close();

  store.writes.length = 0;
  clock.now = START + SERVED_RECORD_INTERVAL_MS;
  const second = await openLifecycle(store, clock);
  serve(second, policies);
  await second.settled();
  assert.deepEqual(store.writes, ['example.com']);
  assert.equal(store.stored.get('example.com')!.policies.at(-1)!.lastServed, clock.now);
  await second.close();
});

test('a changed policy is written at once, and at a stop only what is new is written', async () => {
  const clock = { now: START };
  const store = new RecordingStore();
  const first = await openLifecycle(store, clock);
  serve(first, [domain('example.com'), domain('example.org')]);
  await first.settled();
  store.writes.length = 0;

  clock.now = START + 60_000;
  reload(first, [domain('example.com', 'enforce'), domain('example.org')]);
  await first.close();
  assert.deepEqual(store.writes, ['example.com']);
  assert.deepEqual(
    store.stored.get('example.com')!.policies.map((record) => record.mode),
    ['testing', 'enforce'],
  );
});

test('histories are written a few at a time, and a domain saved again while its write is pending ends with its newest history', async () => {
  const clock = { now: START };
  const store = new RecordingStore();
  const lifecycle = await openLifecycle(store, clock);
  const names = Array.from({ length: 3 * SAVE_CONCURRENCY }, (_, index) => `customer-${index}.example`);
  store.hold(names[0]!);
  serve(
    lifecycle,
    names.map((name) => domain(name)),
  );
  // The first of them changes while its first write is still pending (held by the store) and
  // the other writers are still busy with the rest.
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(store.writes.length < names.length - 1);
  clock.now = START + 60_000;
  reload(
    lifecycle,
    names.map((name, index) => domain(name, index === 0 ? 'enforce' : 'testing')),
  );
  // Only the held write is left in flight: a second write of the same domain beside it would
  // land first and be overwritten by the older history once the held one completes.
  while (store.inFlight > 1) await new Promise((resolve) => setImmediate(resolve));
  const settled = lifecycle.settled();
  store.release();
  await settled;
  await lifecycle.close();

  assert.ok(store.maxInFlight > 1, 'writes overlap');
  assert.ok(store.maxInFlight <= SAVE_CONCURRENCY, `at most ${SAVE_CONCURRENCY} writes at a time, saw ${store.maxInFlight}`);
  assert.equal(store.writes.length, names.length + 1);
  assert.equal(store.writes.filter((name) => name === names[0]).length, 2);
  assert.deepEqual(
    store.stored.get(names[0]!)!.policies.map((record) => record.mode),
    ['testing', 'enforce'],
  );
  assert.deepEqual(new Set(store.stored.keys()), new Set(names));
});
