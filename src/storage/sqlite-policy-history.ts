import type { Statement } from 'better-sqlite3';
import type { DomainHistory, ServedPolicyRecord } from '../policy/retirement.js';
import { StartError } from '../config/start-error.js';
import { printable } from '../text/printable.js';
import {
  loadHistoryFiles,
  readHistoryFiles,
  recordFrom,
  type StoredRecordFields,
  type OpenedPolicyHistory,
  type PolicyHistoryImport,
  type PolicyHistoryStore,
} from './policy-history-store.js';
import { openStatePart, openStatePartIfWritten, type SqliteDatabase, type StatePart } from './sqlite-database.js';
import { stateDatabasePath } from './state-dir.js';
import type { Storage } from './storage.js';

/**
 * migrations[n] takes the policy history table from version n to n + 1; never edit a shipped step.
 * One row per served policy, not one JSON value per domain: a start reads every row in key order
 * in one query, and the columns' types need no JSON parse; `position` keeps a domain's policies
 * in the order they were served. The times are epoch milliseconds, not ISO text: 200 000 strings
 * made and parsed were a quarter of reading 100 000 histories
 * (`datetime(last_served / 1000, 'unixepoch')` shows one in a sqlite3 shell).
 */
const MIGRATIONS = [
  `CREATE TABLE policy_history (
     domain TEXT NOT NULL, position INTEGER NOT NULL,
     policy_id TEXT NOT NULL, mode TEXT NOT NULL, max_age INTEGER NOT NULL, body TEXT NOT NULL,
     first_served INTEGER NOT NULL, last_served INTEGER NOT NULL,
     PRIMARY KEY (domain, position)) WITHOUT ROWID;`,
];

const PART: StatePart = {
  name: 'policy_history',
  migrations: MIGRATIONS,
  title: 'policy history',
  whyEmpty: 'the service has not written it',
};

/** A row as the query hands it over: an array, which better-sqlite3 builds faster than an object. */
type Row = [domain: unknown, position: unknown, ...StoredRecordFields];

interface PendingSave {
  history: DomainHistory;
  resolve(): void;
  reject(error: unknown): void;
}

/** The policy history in the state directory's SQLite database, table policy_history. */
export class SqlitePolicyHistory implements PolicyHistoryStore {
  /** Saves handed over since the last commit: committed together at the next turn of the event loop. */
  private pending: PendingSave[] = [];
  private statements: { remove: Statement; insert: Statement } | undefined;

  private constructor(private readonly db: SqliteDatabase) {}

  /**
   * For the service: creates the table when it is missing, and imports an older version's history
   * files (`legacy`, policy-history/*.json) into an empty one, all in one transaction, so that an
   * upgrade loses no retirement. The files are left where they are, the damaged ones too.
   */
  static async open(stateDir: string, legacy: Storage): Promise<OpenedPolicyHistory> {
    const store = new SqlitePolicyHistory(openOrExplain(stateDir));
    try {
      return { store, imported: await store.importFiles(legacy) };
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /**
   * For commands, while the service may be writing: every history and the problems, as loadAll()
   * gives them. Until the service has opened the database once, the history is still the files
   * of an older version (`legacy`), read in its place.
   */
  static async read(stateDir: string, legacy: Storage): Promise<{ histories: DomainHistory[]; problems: string[] }> {
    const db = openStatePartIfWritten(stateDir, PART);
    if (db === undefined) return loadHistoryFiles(legacy);
    const store = new SqlitePolicyHistory(db);
    try {
      return await store.loadAll();
    } finally {
      await store.close();
    }
  }

  async loadAll(): Promise<{ histories: DomainHistory[]; problems: string[] }> {
    const rows = this.db
      .prepare(
        `SELECT domain, position, policy_id, mode, max_age, body, first_served, last_served
         FROM policy_history ORDER BY domain, position`,
      )
      .raw()
      .all() as Row[];
    const histories: DomainHistory[] = [];
    const problems: string[] = [];
    // Rows come in key order: a domain's rows are consecutive.
    for (let start = 0; start < rows.length;) {
      const domain = rows[start]![0];
      let end = start + 1;
      while (end < rows.length && rows[end]![0] === domain) end++;
      const history = historyFrom(rows, start, end);
      if (typeof history === 'string') problems.push(history);
      else histories.push(history);
      start = end;
    }
    return { histories, problems };
  }

  /**
   * Saves that arrive together (the lifecycle hands over many at a time) are committed in one
   * transaction: one fsync for them all, where a transaction each made 100 000 domains' first
   * histories 100 000 fsyncs on the event loop. Each domain's rows are still replaced as a whole.
   */
  save(history: DomainHistory): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.commit());
      this.pending.push({ history, resolve, reject });
    });
  }

  async close(): Promise<void> {
    this.commit();
    this.db.close();
  }

  private commit(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    try {
      this.replace(batch.map((save) => save.history));
    } catch (error) {
      for (const save of batch) save.reject(error);
      return;
    }
    for (const save of batch) save.resolve();
  }

  /** Replaces each history's rows, all in one transaction. */
  private replace(histories: readonly DomainHistory[]): void {
    this.statements ??= {
      remove: this.db.prepare('DELETE FROM policy_history WHERE domain = ?'),
      insert: this.db.prepare(
        `INSERT INTO policy_history (domain, position, policy_id, mode, max_age, body, first_served, last_served)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
    const { remove, insert } = this.statements;
    this.db.transaction(() => {
      for (const { domain, policies } of histories) {
        remove.run(domain);
        for (const [position, { id, mode, maxAge, body, firstServed, lastServed }] of policies.entries()) {
          insert.run(domain, position, id, mode, maxAge, body, firstServed, lastServed);
        }
      }
    })();
  }

  private async importFiles(legacy: Storage): Promise<PolicyHistoryImport | undefined> {
    // Only into an empty table: once imported (or written by this version), the files are stale.
    if (this.db.prepare('SELECT 1 FROM policy_history LIMIT 1').get() !== undefined) return undefined;
    const { histories, problems } = await readHistoryFiles(legacy);
    if (histories.length === 0 && problems.length === 0) return undefined;
    this.replace(histories);
    return { histories: histories.length, problems };
  }
}

/**
 * The database opened for the service, or why not as a start failure: without its history the
 * service would drop the domains it is retiring (RFC 8461 §8.3) instead of serving them.
 */
function openOrExplain(stateDir: string): SqliteDatabase {
  try {
    return openStatePart(stateDir, 'read-write', PART);
  } catch (error) {
    const { message, code } = error as NodeJS.ErrnoException;
    const path = stateDatabasePath(stateDir);
    throw new StartError(
      `the policy history in ${path} cannot be opened (${message}); the service does not start without it, since it would drop the domains it is retiring`,
      { setting: 'state_dir', path, ...(code !== undefined && { code }) },
    );
  }
}

/** A domain's rows as its history, or the problem with the first damaged one: the whole history is then left out. */
function historyFrom(rows: readonly Row[], start: number, end: number): DomainHistory | string {
  const [domain] = rows[start]!;
  const where = (row: Row) => `policy_history in mta-sts.db, domain ${shownDomain(domain)} position ${String(row[1])}`;
  if (typeof domain !== 'string' || domain === '') return `${where(rows[start]!)}: not a domain name; that history is ignored`;
  const policies: ServedPolicyRecord[] = [];
  for (let index = start; index < end; index++) {
    const row = rows[index]!;
    const record = recordFrom(row[2], row[3], row[4], row[5], row[6], row[7]);
    if (typeof record === 'string') return `${where(row)}: ${record}; that domain's history is ignored`;
    policies.push(record);
  }
  return { domain, policies };
}

function shownDomain(domain: unknown): string {
  return printable(JSON.stringify(domain) ?? String(domain), 100);
}
