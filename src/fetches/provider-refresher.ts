import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { DnsLookup } from '../health/dns-lookup.js';
import { parseServerAddress } from '../net/server-address.js';
import type { Storage } from '../storage/storage.js';
import { loadProviders } from './fetches-from-config.js';
import { rangesOf, readRefreshFile, refreshProviders, storeRefreshFile, type RefreshFile } from './provider-refresh.js';
import { SHIPPED_PROVIDERS_FILE, type ProviderClassifier } from './providers.js';
import type { SpfDns } from './spf-ranges.js';

/**
 * When the stored refresh is missing or stale, the first one comes this long after a start, plus a
 * random part of the spread: once the service is up, and not at the same moment for replicas started together.
 */
const FIRST_REFRESH_DELAY_MS = 60_000;
const FIRST_REFRESH_SPREAD_MS = 4 * 60_000;
/** Each later refresh comes at the interval, plus or minus this share of it. */
const JITTER = 0.1;

export interface ProviderRefresherOptions {
  log: Logger;
  /** Where the refreshed ranges are kept; undefined when the service keeps no state (they then last until a restart). */
  storage: Storage | undefined;
  /** The shipped provider list (a test's stand-in when given). */
  shipped?: string;
  /** The DNS to ask; the config's `providers.resolver` (else the system's) by default. Tests pass their own. */
  dns?: SpfDns;
  /** The delay before the first refresh when the stored one is missing or stale; 1 to 5 minutes (random) by default. */
  firstDelayMs?: number;
  now?: () => Date;
}

/** The DNS questions of a refresh, through `providers.resolver` (the system's resolvers when empty). */
export function refreshDns(settings: Config['providerRefresh'], resolver?: string): DnsLookup {
  const servers = (resolver === undefined ? settings.resolver : [resolver]).map((text) => parseServerAddress(text)!);
  return new DnsLookup(servers, settings.timeoutMs);
}

/**
 * The provider list the service attributes fetches with, kept current from the providers' SPF
 * records: read again every `providers.refresh` (with jitter), applied without a restart. A
 * refresh that fails for a provider keeps its last good ranges; until the first success, the
 * written ranges apply.
 */
export class ProviderRefresher {
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();

  private constructor(
    private readonly config: Config,
    private readonly options: ProviderRefresherOptions,
    private current: ProviderClassifier,
    private file: RefreshFile | undefined,
  ) {}

  /** Loads the provider files with the last stored refresh over them; a problem in the files is a ConfigError. */
  static async open(config: Config, options: ProviderRefresherOptions): Promise<ProviderRefresher> {
    const stored = options.storage ? await readRefreshFile(options.storage) : {};
    if (stored.problem !== undefined) {
      options.log.warn({ event: 'providers_refresh_file_ignored', problem: stored.problem }, stored.problem);
    }
    const classifier = await loadProviders(config, options.shipped ?? SHIPPED_PROVIDERS_FILE, rangesOf(stored.file));
    return new ProviderRefresher(config, options, classifier, stored.file);
  }

  /** The classifier in effect now; replaced whole by each refresh, so a fetch sees the old list or the new one. */
  get classifier(): ProviderClassifier {
    return this.current;
  }

  /** Schedules the refreshes; nothing when `providers.refresh` is never or no provider names an SPF record. */
  start(): void {
    const { intervalMs } = this.config.providerRefresh;
    if (intervalMs === null || this.current.spfSources.length === 0) return;
    const last = Math.max(0, ...Object.values(this.file?.providers ?? {}).map((entry) => Date.parse(entry.refreshed_at)));
    const dueInMs = last + intervalMs - this.now().getTime();
    this.schedule(
      dueInMs > 0 ? dueInMs : (this.options.firstDelayMs ?? FIRST_REFRESH_DELAY_MS + Math.random() * FIRST_REFRESH_SPREAD_MS),
    );
  }

  /** Ends the schedule; a refresh under way is dropped at its next provider, and nothing of it is stored or applied. */
  stop(): void {
    this.stopping.abort();
    clearTimeout(this.timer);
  }

  /** One refresh: every provider's records expanded, applied and stored. Never rejects; the outcome is logged. */
  async refresh(): Promise<void> {
    const { log } = this.options;
    try {
      const dns = this.options.dns ?? refreshDns(this.config.providerRefresh);
      const outcome = await refreshProviders(this.current.spfSources, dns, this.file, this.now(), this.stopping.signal);
      const next = await loadProviders(this.config, this.options.shipped ?? SHIPPED_PROVIDERS_FILE, rangesOf(outcome.file));
      if (this.stopping.signal.aborted) return;
      this.file = outcome.file;
      this.current = next;
      const failed = outcome.results.filter((result) => !result.ok);
      log[failed.length > 0 ? 'warn' : 'info'](
        {
          event: 'providers_refreshed',
          providers: outcome.results.map((result) => ({
            provider: result.id,
            ok: result.ok,
            ranges: result.current?.ranges.length ?? 0,
            added: result.added.length,
            removed: result.removed.length,
            notes: result.notes,
            ...(result.problem !== undefined && { problem: result.problem }),
          })),
          failed: failed.map((result) => result.id),
        },
        `provider ranges refreshed from SPF records; ${failed.length} of ${outcome.results.length} providers failed and keep their previous ranges`,
      );
      await this.store(outcome.file);
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      // The provider files changed underneath and are refused (as a restart would refuse them): the current list stays.
      log.error({ event: 'providers_refresh_error', error: (error as Error).message }, (error as Error).message);
    }
  }

  /** Keeps the refresh for replicas and the next start; one that cannot be written (disk full) is still applied here. */
  private async store(file: RefreshFile): Promise<void> {
    if (!this.options.storage) return;
    try {
      await storeRefreshFile(this.options.storage, file);
    } catch (error) {
      const message = `cannot store the refreshed provider ranges: ${(error as Error).message}`;
      this.options.log.error({ event: 'providers_refresh_store_error', error: (error as Error).message }, message);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => {
        const intervalMs = this.config.providerRefresh.intervalMs!;
        this.schedule(intervalMs * (1 - JITTER + 2 * JITTER * Math.random()));
      });
    }, delayMs);
    this.timer.unref();
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }
}
