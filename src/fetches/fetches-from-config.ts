import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { FetchStatisticsStore } from '../storage/fetch-statistics-store.js';
import { startFetchStatistics } from './fetch-statistics.js';
import { LogLimit, type LogLimits } from './log-limit.js';
import { createFetchPipeline, type FetchPipeline, type FetchSink } from './pipeline.js';
import { ConfigError } from '../config/start-error.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE, type RefreshedRanges } from './providers.js';
import { ReverseDns } from './reverse-dns.js';

export interface FetchesContext {
  log: Logger;
  /** The classifier in effect now (a provider refresh replaces it). */
  classifier: () => ProviderClassifier;
  /** Sinks besides the statistics (the service's metrics). */
  sinks: readonly FetchSink[];
  openStatistics: () => Promise<FetchStatisticsStore>;
  /** Lines of requests that are not policy fetches, per address and window; tests shorten the window. */
  logLimits?: Partial<LogLimits>;
  /** Fetches recorded once per turn of the event loop (src/fetches/pipeline.ts). */
  batched?: boolean;
}

export interface Fetches {
  pipeline: FetchPipeline;
  /** One budget of lines per client address, for the policy listener's clients and the SMTP receiver's alike. */
  logLimit: LogLimit;
}

/**
 * The provider list as `serve` reads it: the shipped list (or `shipped`, a test's stand-in) with
 * the config's providers_file over it, and the ranges of the last `providers refresh` in place of
 * the written ones; a problem in either file stops the start as a config error.
 */
export async function loadProviders(
  config: Config,
  shipped = SHIPPED_PROVIDERS_FILE,
  refreshed: RefreshedRanges = new Map(),
): Promise<ProviderClassifier> {
  const files = [shipped, ...(config.providersFile ? [config.providersFile] : [])];
  return ProviderClassifier.fromFiles(files, refreshed).catch((error: Error) =>
    Promise.reject(new ConfigError(error.message.split('\n'))),
  );
}

/** The fetch pipeline as the config sets it up: statistics and reverse DNS when enabled, the log budget always. */
export async function startFetches(config: Config, context: FetchesContext): Promise<Fetches> {
  const { log } = context;
  const statistics = config.statistics.enabled
    ? await startFetchStatistics(context.openStatistics, config.statistics, log)
    : undefined;
  const logLimit = new LogLimit(log, context.logLimits);
  const pipeline = createFetchPipeline({
    log,
    classifier: context.classifier,
    limit: logLimit,
    ...(config.reverseDns.enabled && { reverseDns: ReverseDns.fromSettings(config.reverseDns) }),
    sinks: [...context.sinks, ...(statistics ? [statistics] : [])],
    batched: context.batched ?? false,
  });
  return { pipeline, logLimit };
}
