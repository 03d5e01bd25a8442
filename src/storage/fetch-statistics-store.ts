/**
 * Distinct source addresses kept per UTC day, domain and provider. Beyond them fetches are still
 * counted, but their addresses are not stored and the day is marked (`addressesCapped`): a flood
 * from many addresses cannot grow the database or the memory of a batch without bound.
 */
export const MAX_ADDRESSES_PER_DAY = 1_000;

/** What one UTC day of one domain's fetches by one provider adds up to: the unit a store keeps. */
export interface DailyFetches {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  domain: string;
  provider: string;
  fetches: number;
  claimed: number;
  /** ISO 8601 times. */
  firstSeen: string;
  lastSeen: string;
  /** The policy id of the day's last fetch. */
  lastPolicyId: string;
  /** At most MAX_ADDRESSES_PER_DAY. */
  addresses: ReadonlySet<string>;
  /** Addresses were left out of `addresses` (more than MAX_ADDRESSES_PER_DAY); absent means none were. */
  addressesCapped?: boolean;
  fetchesByPolicyId: ReadonlyMap<string, number>;
}

/** One provider's fetches of one domain's policy over a period. */
export interface ProviderFetchStatistics {
  domain: string;
  provider: string;
  fetches: number;
  claimed: number;
  /** Distinct source addresses over the whole period, of those stored (MAX_ADDRESSES_PER_DAY per day). */
  addresses: number;
  /** On some day of the period, more addresses fetched than were stored: `addresses` is a lower bound. */
  addressesCapped: boolean;
  firstSeen: string;
  lastSeen: string;
  lastPolicyId: string;
  fetchesByPolicyId: Record<string, number>;
}

/** Which days (UTC, YYYY-MM-DD, both included) and domain a query covers. */
export interface FetchStatisticsFilter {
  sinceDay: string;
  untilDay?: string;
  domain?: string;
}

/**
 * Where fetch statistics are kept. SQLite in the state directory is the embedded store; a
 * database shared by several replicas implements the same four calls (its `add` must sum, not
 * overwrite, because every replica adds its own batches for the same day).
 */
export interface FetchStatisticsStore {
  /** Adds a batch atomically: after a crash, all of it is stored or none. */
  add(batch: readonly DailyFetches[]): Promise<void>;
  /** Per domain and provider, the days from `sinceDay` (YYYY-MM-DD, UTC) on, up to `untilDay` when given. */
  query(filter: FetchStatisticsFilter): Promise<ProviderFetchStatistics[]>;
  /** Deletes the days before `beforeDay`; returns how many day rows went. */
  prune(beforeDay: string): Promise<number>;
  close(): Promise<void>;
}
