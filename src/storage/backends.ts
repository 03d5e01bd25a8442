import type { Config } from '../config/schema.js';
import type { FetchStatisticsStore } from './fetch-statistics-store.js';
import { FileStorage } from './file-storage.js';
import { StoragePolicyHistory, type PolicyHistoryStore } from './policy-history-store.js';
import type { Storage } from './storage.js';
import type { TlsReportStore } from './tls-report-store.js';

/**
 * Who opens a store: the service writes (and `reports import` adds reports); commands such as
 * `stats` and `reports` only read, while the service keeps writing.
 */
export type StoreAccess = 'read-write' | 'read-only';

/**
 * The stores the config chooses. Everything that keeps state goes through here, so that a shared
 * backend for replicas is one more case in this file, not a change in every caller.
 */
export interface Backends {
  /** What replicas share: certificates and keys, ACME accounts, per-host status, pending HTTP-01 tokens, the self-signed CA. */
  readonly storage: Storage;
  /** Each domain's served policies, for retiring removed domains (RFC 8461 §8.3); kept in `storage`. */
  readonly policyHistory: PolicyHistoryStore;
  /** Opens the fetch statistics store; throws with a message a person can act on when it cannot be opened. */
  openFetchStatistics(access: StoreAccess): Promise<FetchStatisticsStore>;
  /** Opens the TLS report store (RFC 8460); throws like openFetchStatistics. */
  openTlsReportStore(access: StoreAccess): Promise<TlsReportStore>;
}

export function openBackends(config: Pick<Config, 'stateDir'>): Backends {
  const { stateDir } = config;
  // The SQLite stores are loaded only when opened: the module is native and only some commands need it.
  const storage = new FileStorage(stateDir);
  return {
    storage,
    policyHistory: new StoragePolicyHistory(storage),
    async openFetchStatistics(access) {
      const { SqliteFetchStatistics } = await import('./sqlite-fetch-statistics.js');
      return access === 'read-write' ? SqliteFetchStatistics.open(stateDir) : SqliteFetchStatistics.openReadOnly(stateDir);
    },
    async openTlsReportStore(access) {
      const { SqliteTlsReportStore } = await import('./sqlite-tls-report-store.js');
      return access === 'read-write' ? SqliteTlsReportStore.open(stateDir) : SqliteTlsReportStore.openReadOnly(stateDir);
    },
  };
}
