import type { Statement } from 'better-sqlite3';
import { openStatePart, type SqliteDatabase, type StatePart } from './sqlite-database.js';
import {
  MAX_ADDRESSES_PER_DAY,
  type DailyFetches,
  type FetchStatisticsFilter,
  type FetchStatisticsStore,
  type ProviderFetchStatistics,
} from './fetch-statistics-store.js';

/** migrations[n] takes the fetch statistics tables from version n to n + 1; never edit a shipped step. */
const MIGRATIONS = [
  `CREATE TABLE fetch_days (
     day TEXT NOT NULL, domain TEXT NOT NULL, provider TEXT NOT NULL,
     fetches INTEGER NOT NULL, claimed INTEGER NOT NULL,
     first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, last_policy_id TEXT NOT NULL,
     PRIMARY KEY (day, domain, provider)) WITHOUT ROWID;
   CREATE TABLE fetch_day_addresses (
     day TEXT NOT NULL, domain TEXT NOT NULL, provider TEXT NOT NULL, address TEXT NOT NULL,
     PRIMARY KEY (day, domain, provider, address)) WITHOUT ROWID;
   CREATE TABLE fetch_day_policy_ids (
     day TEXT NOT NULL, domain TEXT NOT NULL, provider TEXT NOT NULL, policy_id TEXT NOT NULL, fetches INTEGER NOT NULL,
     PRIMARY KEY (day, domain, provider, policy_id)) WITHOUT ROWID;`,
  // 1 when more addresses fetched that day than fetch_day_addresses keeps (MAX_ADDRESSES_PER_DAY).
  'ALTER TABLE fetch_days ADD COLUMN addresses_capped INTEGER NOT NULL DEFAULT 0;',
];

const PART: StatePart = {
  name: 'fetch_statistics',
  migrations: MIGRATIONS,
  title: 'fetch statistics',
  whyEmpty: 'the service has not written any',
};

const TABLES = ['fetch_days', 'fetch_day_addresses', 'fetch_day_policy_ids'] as const;

/** Fetch statistics in the state directory's SQLite database. */
export class SqliteFetchStatistics implements FetchStatisticsStore {
  private constructor(private readonly db: SqliteDatabase) {}

  /** For the service: creates the database and its tables when they are missing. */
  static open(stateDir: string): SqliteFetchStatistics {
    return new SqliteFetchStatistics(openStatePart(stateDir, 'read-write', PART));
  }

  /** For commands that only read, while the service may be writing. */
  static openReadOnly(stateDir: string): SqliteFetchStatistics {
    return new SqliteFetchStatistics(openStatePart(stateDir, 'read-only', PART));
  }

  /** The write statements, prepared at the first batch (a read-only store never writes). */
  private writes:
    | { upsertDay: Statement; countAddresses: Statement; hasAddress: Statement; addAddress: Statement; addPolicyId: Statement }
    | undefined;

  async add(batch: readonly DailyFetches[]): Promise<void> {
    this.writes ??= {
      upsertDay: this.db.prepare(
        `INSERT INTO fetch_days (day, domain, provider, fetches, claimed, first_seen, last_seen, last_policy_id, addresses_capped)
         VALUES (@day, @domain, @provider, @fetches, @claimed, @firstSeen, @lastSeen, @lastPolicyId, @addressesCapped)
         ON CONFLICT (day, domain, provider) DO UPDATE SET
           fetches = fetches + excluded.fetches,
           claimed = claimed + excluded.claimed,
           addresses_capped = max(addresses_capped, excluded.addresses_capped),
           first_seen = min(first_seen, excluded.first_seen),
           last_policy_id = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_policy_id ELSE last_policy_id END,
           last_seen = max(last_seen, excluded.last_seen)`,
      ),
      countAddresses: this.db
        .prepare('SELECT count(*) FROM fetch_day_addresses WHERE day = ? AND domain = ? AND provider = ?')
        .pluck(),
      hasAddress: this.db
        .prepare('SELECT 1 FROM fetch_day_addresses WHERE day = ? AND domain = ? AND provider = ? AND address = ?')
        .pluck(),
      addAddress: this.db.prepare(
        'INSERT OR IGNORE INTO fetch_day_addresses (day, domain, provider, address) VALUES (?, ?, ?, ?)',
      ),
      addPolicyId: this.db.prepare(
        `INSERT INTO fetch_day_policy_ids (day, domain, provider, policy_id, fetches) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (day, domain, provider, policy_id) DO UPDATE SET fetches = fetches + excluded.fetches`,
      ),
    };
    const { upsertDay, countAddresses, hasAddress, addAddress, addPolicyId } = this.writes;
    this.db.transaction(() => {
      for (const row of batch) {
        const { day, domain, provider } = row;
        // Batches add up over the day: the cap holds for the day's rows, not per batch.
        let stored = countAddresses.get(day, domain, provider) as number;
        let capped = row.addressesCapped === true;
        for (const address of row.addresses) {
          if (stored < MAX_ADDRESSES_PER_DAY) stored += addAddress.run(day, domain, provider, address).changes;
          else if (!capped && hasAddress.get(day, domain, provider, address) === undefined) capped = true;
        }
        upsertDay.run({
          day,
          domain,
          provider,
          fetches: row.fetches,
          claimed: row.claimed,
          firstSeen: row.firstSeen,
          lastSeen: row.lastSeen,
          lastPolicyId: row.lastPolicyId,
          addressesCapped: capped ? 1 : 0,
        });
        for (const [policyId, fetches] of row.fetchesByPolicyId) addPolicyId.run(day, domain, provider, policyId, fetches);
      }
    })();
  }

  async query(filter: FetchStatisticsFilter): Promise<ProviderFetchStatistics[]> {
    const where =
      `day >= @sinceDay${filter.untilDay === undefined ? '' : ' AND day <= @untilDay'}` +
      `${filter.domain === undefined ? '' : ' AND domain = @domain'}`;
    const parameters = {
      sinceDay: filter.sinceDay,
      ...(filter.untilDay !== undefined && { untilDay: filter.untilDay }),
      ...(filter.domain !== undefined && { domain: filter.domain }),
    };
    // SQLite takes the bare column last_policy_id from the row that has max(last_seen); a further min() or max()
    // would take part in that choice, so whether a day was capped is summed.
    const totals = this.db
      .prepare(
        `SELECT domain, provider, sum(fetches) AS fetches, sum(claimed) AS claimed, min(first_seen) AS firstSeen,
                max(last_seen) AS lastSeen, last_policy_id AS lastPolicyId, sum(addresses_capped) AS addressesCapped
         FROM fetch_days WHERE ${where} GROUP BY domain, provider`,
      )
      .all(parameters) as (Omit<ProviderFetchStatistics, 'addresses' | 'addressesCapped' | 'fetchesByPolicyId'> & {
      addressesCapped: number;
    })[];
    const key = (row: { domain: string; provider: string }) => `${row.domain} ${row.provider}`;
    const addresses = new Map(
      (
        this.db
          .prepare(
            `SELECT domain, provider, count(DISTINCT address) AS addresses FROM fetch_day_addresses WHERE ${where} GROUP BY domain, provider`,
          )
          .all(parameters) as { domain: string; provider: string; addresses: number }[]
      ).map((row) => [key(row), row.addresses]),
    );
    const byPolicyId = new Map<string, Record<string, number>>();
    for (const row of this.db
      .prepare(
        `SELECT domain, provider, policy_id AS policyId, sum(fetches) AS fetches FROM fetch_day_policy_ids WHERE ${where}
         GROUP BY domain, provider, policy_id`,
      )
      .all(parameters) as { domain: string; provider: string; policyId: string; fetches: number }[]) {
      const counts = byPolicyId.get(key(row)) ?? {};
      counts[row.policyId] = row.fetches;
      byPolicyId.set(key(row), counts);
    }
    return totals.map((row) => ({
      ...row,
      addresses: addresses.get(key(row)) ?? 0,
      addressesCapped: row.addressesCapped > 0,
      fetchesByPolicyId: byPolicyId.get(key(row)) ?? {},
    }));
  }

  async prune(beforeDay: string): Promise<number> {
    return this.db.transaction(() => {
      let days = 0;
      for (const table of TABLES) {
        const removed = this.db.prepare(`DELETE FROM ${table} WHERE day < ?`).run(beforeDay).changes;
        if (table === 'fetch_days') days = removed;
      }
      return days;
    })();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
