import type { Logger } from 'pino';
import type { Attribution, PolicyFetch } from './fetch-log.js';
import type { FetchSink } from './pipeline.js';
import type { DailyFetches, FetchStatisticsStore } from '../storage/fetch-statistics-store.js';
import { MAX_ADDRESSES_PER_DAY } from '../storage/fetch-statistics-store.js';
import { DAY_MS, daysBefore, utcDay } from '../time/days.js';

/**
 * What statistics, `stats` and `who` count as a fetch: a GET answered with a domain's policy, what
 * a sender takes home and caches (RFC 8461 §3.3). HEAD requests, errors and other hosts are not.
 */
export function isCountedFetch<Request extends { method: string; domain: string | null; policyId: string | null }>(
  request: Request,
): request is Request & { domain: string; policyId: string } {
  return request.method === 'GET' && request.domain !== null && request.policyId !== null;
}

/** One policy fetch as statistics count it: a GET that was answered with a policy. */
export interface CountedFetch {
  /** Milliseconds since the epoch (Date.now()). */
  atMs: number;
  domain: string;
  /** The provider after all evidence (user agent, address, confirmed reverse DNS); "unknown" when none. */
  provider: string;
  ip: string;
  policyId: string;
  /** The user agent claimed a provider the evidence did not confirm. */
  claimed: boolean;
}

/**
 * The statistics recorder over the store `open` gives, started; or none: a database that cannot
 * be opened (unwritable state directory, a newer schema) must not keep the policy from being
 * served, so the service starts without statistics and says so.
 */
export async function startFetchStatistics(
  open: () => Promise<FetchStatisticsStore>,
  settings: { flush_interval_s: number; retention_days: number },
  log: Logger,
): Promise<FetchStatisticsRecorder | undefined> {
  let store: FetchStatisticsStore;
  try {
    store = await open();
  } catch (error) {
    log.error(
      { event: 'fetch_statistics_unavailable', error: (error as Error).message },
      'fetch statistics are off until the state database can be opened; the policies are served as usual',
    );
    return undefined;
  }
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: settings.flush_interval_s * 1000,
    retentionDays: settings.retention_days,
    log,
  });
  await recorder.start();
  return recorder;
}

export interface RecorderOptions {
  flushIntervalMs: number;
  retentionDays: number;
  log: Logger;
}

/** A day being summed in memory; record() runs on every request, so times stay numbers until a batch is written. */
interface PendingDay {
  /** Days since the epoch, UTC. */
  dayNumber: number;
  domain: string;
  provider: string;
  fetches: number;
  claimed: number;
  firstSeenMs: number;
  lastSeenMs: number;
  lastPolicyId: string;
  addresses: Set<string>;
  addressesCapped: boolean;
  fetchesByPolicyId: Map<string, number>;
}

/** By day, domain, provider: nested maps look up the same string objects each time, without building a key. */
type PendingDays = Map<number, Map<string, Map<string, PendingDay>>>;

/**
 * Sums fetches in memory and hands them to the store as one batch per interval, so the request
 * path only updates a map and the store sees a few rows per interval however busy the host is.
 * A crash loses at most the fetches since the last batch; a batch the store refuses is kept and
 * offered again with the next one.
 */
export class FetchStatisticsRecorder implements FetchSink {
  private pending: PendingDays = new Map();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private lastPrunedDay: string | undefined;
  private failing = false;

  constructor(
    private readonly store: FetchStatisticsStore,
    private readonly options: RecorderOptions,
  ) {}

  /** Prunes past the retention and starts the batch timer. */
  async start(): Promise<void> {
    await this.pruneOnceADay(new Date());
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** The fetch pipeline's final attribution: counted when isCountedFetch says so. */
  attributed(fetch: PolicyFetch, attribution: Attribution): void {
    if (!isCountedFetch(fetch)) return;
    this.record({
      atMs: Date.now(),
      domain: fetch.domain,
      provider: attribution.provider,
      ip: fetch.ip,
      policyId: fetch.policyId,
      claimed: attribution.claimed,
    });
  }

  record(fetch: CountedFetch): void {
    const entry = this.pendingDay(Math.floor(fetch.atMs / DAY_MS), fetch.domain, fetch.provider);
    entry.fetches++;
    if (fetch.claimed) entry.claimed++;
    if (fetch.atMs < entry.firstSeenMs) entry.firstSeenMs = fetch.atMs;
    if (fetch.atMs >= entry.lastSeenMs) {
      entry.lastSeenMs = fetch.atMs;
      entry.lastPolicyId = fetch.policyId;
    }
    addAddress(entry, fetch.ip);
    entry.fetchesByPolicyId.set(fetch.policyId, (entry.fetchesByPolicyId.get(fetch.policyId) ?? 0) + 1);
  }

  private pendingDay(dayNumber: number, domain: string, provider: string): PendingDay {
    let byDomain = this.pending.get(dayNumber);
    if (!byDomain) this.pending.set(dayNumber, (byDomain = new Map()));
    let byProvider = byDomain.get(domain);
    if (!byProvider) byDomain.set(domain, (byProvider = new Map()));
    let entry = byProvider.get(provider);
    if (!entry) {
      entry = {
        dayNumber,
        domain,
        provider,
        fetches: 0,
        claimed: 0,
        firstSeenMs: Infinity,
        lastSeenMs: -Infinity,
        lastPolicyId: '',
        addresses: new Set(),
        addressesCapped: false,
        fetchesByPolicyId: new Map(),
      };
      byProvider.set(provider, entry);
    }
    return entry;
  }

  /** Writes what has been summed so far; one write at a time. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.writeBatch());
    return this.writing;
  }

  /** Writes the last batch and closes the store (at service stop). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.store.close();
  }

  private async writeBatch(): Promise<void> {
    const now = new Date();
    await this.pruneOnceADay(now);
    const batch = [...this.pending.values()].flatMap((byDomain) =>
      [...byDomain.values()].flatMap((byProvider) => [...byProvider.values()]),
    );
    if (batch.length === 0) return;
    this.pending = new Map();
    const fetches = batch.reduce((sum, row) => sum + row.fetches, 0);
    try {
      await this.store.add(batch.map(dailyFetches));
      this.options.log.debug({ event: 'fetch_statistics_written', rows: batch.length, fetches }, 'fetch statistics written');
      if (this.failing) this.options.log.info({ event: 'fetch_statistics_recovered', fetches }, 'fetch statistics written again');
      this.failing = false;
    } catch (error) {
      // Back in front of what arrived since, to be offered again with the next batch.
      for (const older of batch) mergeInto(this.pendingDay(older.dayNumber, older.domain, older.provider), older);
      // Once per outage: a full disk would otherwise log an error every interval.
      if (!this.failing) {
        this.options.log.error(
          { event: 'fetch_statistics_error', error: (error as Error).message, pending_fetches: fetches },
          'fetch statistics not written; kept in memory and retried with the next batch',
        );
      }
      this.failing = true;
    }
  }

  private async pruneOnceADay(now: Date): Promise<void> {
    const today = utcDay(now);
    if (this.lastPrunedDay === today) return;
    this.lastPrunedDay = today;
    const before = daysBefore(now, this.options.retentionDays);
    try {
      const removed = await this.store.prune(before);
      if (removed > 0) {
        this.options.log.info(
          { event: 'fetch_statistics_pruned', before, rows: removed },
          `fetch statistics before ${before} deleted (retention ${this.options.retentionDays} days)`,
        );
      }
    } catch (error) {
      this.options.log.error(
        { event: 'fetch_statistics_error', error: (error as Error).message },
        'old fetch statistics not deleted',
      );
    }
  }
}

/** Keeps the address unless the day already holds MAX_ADDRESSES_PER_DAY others; then marks the day. */
function addAddress(day: PendingDay, address: string): void {
  if (day.addresses.size < MAX_ADDRESSES_PER_DAY) day.addresses.add(address);
  else if (!day.addresses.has(address)) day.addressesCapped = true;
}

function mergeInto(target: PendingDay, source: PendingDay): void {
  target.fetches += source.fetches;
  target.claimed += source.claimed;
  target.firstSeenMs = Math.min(target.firstSeenMs, source.firstSeenMs);
  if (source.lastSeenMs > target.lastSeenMs) {
    target.lastSeenMs = source.lastSeenMs;
    target.lastPolicyId = source.lastPolicyId;
  }
  for (const address of source.addresses) addAddress(target, address);
  target.addressesCapped ||= source.addressesCapped;
  for (const [id, count] of source.fetchesByPolicyId)
    target.fetchesByPolicyId.set(id, (target.fetchesByPolicyId.get(id) ?? 0) + count);
}

function dailyFetches(pending: PendingDay): DailyFetches {
  return {
    day: utcDay(new Date(pending.dayNumber * DAY_MS)),
    domain: pending.domain,
    provider: pending.provider,
    fetches: pending.fetches,
    claimed: pending.claimed,
    firstSeen: new Date(pending.firstSeenMs).toISOString(),
    lastSeen: new Date(pending.lastSeenMs).toISOString(),
    lastPolicyId: pending.lastPolicyId,
    addresses: pending.addresses,
    addressesCapped: pending.addressesCapped,
    fetchesByPolicyId: pending.fetchesByPolicyId,
  };
}
