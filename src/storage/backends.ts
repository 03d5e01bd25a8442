import type { Config } from '../config/schema.js';
import type { FetchStatisticsStore } from './fetch-statistics-store.js';
import { FileStorage } from './file-storage.js';
import type { Storage } from './storage.js';

/** Who opens the statistics: the service writes them; commands such as `stats` only read, while the service keeps writing. */
export type StatisticsAccess = 'read-write' | 'read-only';

/**
 * The stores the config chooses. Everything that keeps state goes through here, so that a shared
 * backend for replicas is one more case in this file, not a change in every caller.
 */
export interface Backends {
  /** Certificates, keys, the ACME account and per-host status. */
  readonly storage: Storage;
  /** Opens the fetch statistics store; throws with a message a person can act on when it cannot be opened. */
  openFetchStatistics(access: StatisticsAccess): Promise<FetchStatisticsStore>;
}

export function openBackends(config: Pick<Config, 'stateDir'>): Backends {
  const { stateDir } = config;
  return {
    storage: new FileStorage(stateDir),
    async openFetchStatistics(access) {
      // Loaded only here: the SQLite module is native and only serve and stats need it.
      const { SqliteFetchStatistics } = await import('./sqlite-fetch-statistics.js');
      return access === 'read-write' ? SqliteFetchStatistics.open(stateDir) : SqliteFetchStatistics.openReadOnly(stateDir);
    },
  };
}
