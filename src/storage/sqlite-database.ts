import { existsSync, mkdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { stateDatabasePath } from './state-dir.js';

export type SqliteDatabase = Database.Database;

/**
 * Opens the state database. The service opens it for writing (creating it); commands such as
 * `stats` open it read-only while the service keeps writing, which WAL mode allows.
 */
function openStateDatabase(stateDir: string, access: 'read-write' | 'read-only'): SqliteDatabase {
  const path = stateDatabasePath(stateDir);
  if (access === 'read-only' && !existsSync(path)) {
    throw new Error(`${path} does not exist: the service has not written any statistics under this state_dir yet`);
  }
  if (access === 'read-write') mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const db = new Database(path, { readonly: access === 'read-only', fileMustExist: access === 'read-only' });
  // better-sqlite3 waits for a lock on the event loop. A command that reads can wait for the
  // service's commit; the service must not stall its requests, so a write that finds the
  // database locked (someone's sqlite3 shell) fails at once and its batch is retried later.
  db.pragma(`busy_timeout = ${access === 'read-only' ? 5000 : 100}`);
  if (access === 'read-write') {
    db.pragma('journal_mode = WAL');
    // FULL: a committed batch survives a power cut too, not only a crash of the process; one
    // fsync per batch costs nothing next to the requests it sums up.
    db.pragma('synchronous = FULL');
  }
  return db;
}

/**
 * Brings one part's tables up to date: `migrations[n]` takes that part from version n to n + 1.
 * Each step runs in a transaction with its version bump, so a crash leaves a whole step or none.
 */
function migrate(db: SqliteDatabase, part: string, migrations: readonly string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_versions (part TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID');
  const from = schemaVersion(db, part);
  if (from > migrations.length) {
    throw new Error(
      `the ${part} tables in the state database are at version ${from}, newer than this mta-sts-server knows (${migrations.length}); run the newer version or restore a backup`,
    );
  }
  for (let version = from; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.prepare(
        'INSERT INTO schema_versions (part, version) VALUES (?, ?) ON CONFLICT(part) DO UPDATE SET version = excluded.version',
      ).run(part, version + 1);
    })();
  }
}

/** The part's schema version, for read-only users that must not migrate: 0 when the part has no tables yet. */
function schemaVersion(db: SqliteDatabase, part: string): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'").get();
  if (!table) return 0;
  return (
    (db.prepare('SELECT version FROM schema_versions WHERE part = ?').get(part) as { version: number } | undefined)?.version ?? 0
  );
}

/** One part's tables in the state database, as openStatePart() opens them. */
export interface StatePart {
  /** Its key in schema_versions. */
  name: string;
  /** `migrations[n]` takes the part from version n to n + 1. */
  migrations: readonly string[];
  /** What messages call its contents: "fetch statistics", "TLS reports". */
  title: string;
  /** Why a reader can find none yet, for the message when the part has no tables. */
  whyEmpty: string;
}

/**
 * The state database for one part: read-write brings the part's tables up to date (the service);
 * read-only (commands, while the service writes) insists they are at the version this build
 * reads, and says so when they are not. The database is closed again when it cannot be used.
 */
export function openStatePart(stateDir: string, access: 'read-write' | 'read-only', part: StatePart): SqliteDatabase {
  const db = openStateDatabase(stateDir, access);
  try {
    if (access === 'read-write') migrate(db, part.name, part.migrations);
    else assertReadable(part, schemaVersion(db, part.name));
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Read-only, for a part whose readers have something else to read before the service first
 * writes it (the policy history: an older version's files): undefined when the part has no
 * tables yet, otherwise as openStatePart(). The database itself must exist.
 */
export function openStatePartIfWritten(stateDir: string, part: StatePart): SqliteDatabase | undefined {
  const db = openStateDatabase(stateDir, 'read-only');
  try {
    const version = schemaVersion(db, part.name);
    if (version === 0) {
      db.close();
      return undefined;
    }
    assertReadable(part, version);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function assertReadable(part: StatePart, version: number): void {
  if (version === part.migrations.length) return;
  throw new Error(
    version === 0
      ? `the state database has no ${part.title} yet: ${part.whyEmpty}`
      : `the ${part.title} in the state database are at version ${version}; this mta-sts-server reads version ${part.migrations.length}`,
  );
}
