import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { DomainHistory } from '../policy/retirement.js';
import type { FetchStatisticsStore } from './fetch-statistics-store.js';
import { FileStorage } from './file-storage.js';
import { loadHistoryFiles, type OpenedPolicyHistory } from './policy-history-store.js';
import { stateDatabasePath } from './state-dir.js';
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
  /**
   * Opens each domain's served policies, for retiring removed domains (RFC 8461 §8.3), for the
   * service: in the state database, imported there from an older version's files at the first open.
   */
  openPolicyHistory(): Promise<OpenedPolicyHistory>;
  /** Every stored policy history, for commands that read while the service writes; problems as in PolicyHistoryStore.loadAll. */
  readPolicyHistory(): Promise<{ histories: DomainHistory[]; problems: string[] }>;
  /** Opens the fetch statistics store; throws with a message a person can act on when it cannot be opened. */
  openFetchStatistics(access: StoreAccess): Promise<FetchStatisticsStore>;
  /** Opens the TLS report store (RFC 8460); throws like openFetchStatistics. */
  openTlsReportStore(access: StoreAccess): Promise<TlsReportStore>;
}

export function openBackends(config: Pick<Config, 'stateDir'>): Backends {
  const { stateDir } = config;
  // The SQLite stores are loaded only when opened: the module is native and only some commands and configs need it.
  const storage = new FileStorage(stateDir);
  return {
    storage,
    async openPolicyHistory() {
      const { SqlitePolicyHistory } = await import('./sqlite-policy-history.js');
      return SqlitePolicyHistory.open(stateDir, storage);
    },
    async readPolicyHistory() {
      // Without a state database there is no history in it: `dns` and `check` on a host that
      // keeps none, or before the first start, read the older version's files without loading SQLite.
      if (!existsSync(stateDatabasePath(stateDir))) return loadHistoryFiles(storage);
      const { SqlitePolicyHistory } = await import('./sqlite-policy-history.js');
      return SqlitePolicyHistory.read(stateDir, storage);
    },
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
