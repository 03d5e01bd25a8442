import { openStatePart, type SqliteDatabase, type StatePart } from './sqlite-database.js';
import {
  ReportStoreUnavailableError,
  type FailureDetail,
  type IntakePath,
  type RejectedReport,
  type ReportToStore,
  type StoredPolicyResult,
  type TlsReportStore,
} from './tls-report-store.js';

/** migrations[n] takes the TLS report tables from version n to n + 1; never edit a shipped step. */
const MIGRATIONS = [
  `CREATE TABLE tlsrpt_reports (
     id INTEGER PRIMARY KEY, organization TEXT NOT NULL, report_id TEXT NOT NULL, contact_info TEXT,
     start_time TEXT NOT NULL, end_time TEXT NOT NULL, received_at TEXT NOT NULL, via TEXT NOT NULL,
     raw_gzip BLOB NOT NULL,
     UNIQUE (organization, report_id));
   CREATE INDEX tlsrpt_reports_end ON tlsrpt_reports (end_time);
   CREATE TABLE tlsrpt_policies (
     id INTEGER PRIMARY KEY, report INTEGER NOT NULL REFERENCES tlsrpt_reports (id) ON DELETE CASCADE,
     policy_type TEXT NOT NULL, policy_domain TEXT NOT NULL, policy_string TEXT, mx_hosts TEXT NOT NULL,
     successful_sessions INTEGER NOT NULL, failed_sessions INTEGER NOT NULL);
   CREATE INDEX tlsrpt_policies_report ON tlsrpt_policies (report);
   CREATE TABLE tlsrpt_failures (
     policy INTEGER NOT NULL REFERENCES tlsrpt_policies (id) ON DELETE CASCADE,
     result_type TEXT NOT NULL, sending_mta_ip TEXT, receiving_ip TEXT, receiving_mx_hostname TEXT,
     receiving_mx_helo TEXT, failure_reason_code TEXT, sessions INTEGER NOT NULL);
   CREATE INDEX tlsrpt_failures_policy ON tlsrpt_failures (policy);
   CREATE TABLE tlsrpt_rejected (
     id INTEGER PRIMARY KEY, received_at TEXT NOT NULL, via TEXT NOT NULL, reason TEXT NOT NULL,
     media_type TEXT NOT NULL, size INTEGER NOT NULL, raw BLOB NOT NULL);
   CREATE INDEX tlsrpt_rejected_received ON tlsrpt_rejected (received_at);`,
];

const PART: StatePart = { name: 'tls_reports', migrations: MIGRATIONS, title: 'TLS reports', whyEmpty: 'none has been received' };

// SQLite result codes that mean "not now" rather than "never": the sender retries later.
const TRANSIENT_CODES = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)/;

/** Runs a store call, turning SQLite's transient failures into ReportStoreUnavailableError. */
function transientAware<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.test(code)) {
      throw new ReportStoreUnavailableError(`${what}: ${(error as Error).message} (${code})`, { cause: error });
    }
    throw error;
  }
}

interface PolicyRow {
  policy: number;
  organization: string;
  report_id: string;
  start_time: string;
  end_time: string;
  received_at: string;
  via: IntakePath;
  policy_type: string;
  policy_domain: string;
  successful_sessions: number;
  failed_sessions: number;
}

interface FailureRow {
  policy: number;
  result_type: string;
  sending_mta_ip: string | null;
  receiving_ip: string | null;
  receiving_mx_hostname: string | null;
  receiving_mx_helo: string | null;
  failure_reason_code: string | null;
  sessions: number;
}

/** TLS reports in the state directory's SQLite database (beside the fetch statistics, own tables and version). */
export class SqliteTlsReportStore implements TlsReportStore {
  private constructor(private readonly db: SqliteDatabase) {
    db.pragma('foreign_keys = ON');
  }

  /** For the service and `reports import`: creates the tables when they are missing. */
  static open(stateDir: string): SqliteTlsReportStore {
    return new SqliteTlsReportStore(openStatePart(stateDir, 'read-write', PART));
  }

  /** For `reports`, while the service may be writing. */
  static openReadOnly(stateDir: string): SqliteTlsReportStore {
    return new SqliteTlsReportStore(openStatePart(stateDir, 'read-only', PART));
  }

  async add(report: ReportToStore): Promise<boolean> {
    return transientAware('report not stored', () =>
      this.db.transaction((): boolean => {
        const { facts } = report;
        const inserted = this.db
          .prepare(
            `INSERT INTO tlsrpt_reports (organization, report_id, contact_info, start_time, end_time, received_at, via, raw_gzip)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization, report_id) DO NOTHING`,
          )
          .run(
            facts.organization,
            facts.reportId,
            facts.contactInfo,
            facts.start,
            facts.end,
            report.receivedAt,
            report.via,
            report.compressed,
          );
        if (inserted.changes === 0) return false;
        const addPolicy = this.db.prepare(
          `INSERT INTO tlsrpt_policies (report, policy_type, policy_domain, policy_string, mx_hosts, successful_sessions, failed_sessions)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        );
        const addFailure = this.db.prepare(
          `INSERT INTO tlsrpt_failures (policy, result_type, sending_mta_ip, receiving_ip, receiving_mx_hostname, receiving_mx_helo, failure_reason_code, sessions)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const policy of facts.policies) {
          const policyId = addPolicy.run(
            inserted.lastInsertRowid,
            policy.policyType,
            policy.policyDomain,
            policy.policyString,
            JSON.stringify(policy.mxHosts),
            policy.successfulSessions,
            policy.failedSessions,
          ).lastInsertRowid;
          for (const failure of policy.failures) {
            addFailure.run(
              policyId,
              failure.resultType,
              failure.sendingMtaIp,
              failure.receivingIp,
              failure.receivingMxHostname,
              failure.receivingMxHelo,
              failure.failureReasonCode,
              failure.sessions,
            );
          }
        }
        return true;
      })(),
    );
  }

  async addRejected(rejected: RejectedReport): Promise<void> {
    transientAware('rejected report not stored', () =>
      this.db
        .prepare('INSERT INTO tlsrpt_rejected (received_at, via, reason, media_type, size, raw) VALUES (?, ?, ?, ?, ?, ?)')
        .run(rejected.receivedAt, rejected.via, rejected.reason, rejected.mediaType, rejected.size, rejected.raw),
    );
  }

  async policyResults(filter: { sinceDay: string; domain?: string }): Promise<StoredPolicyResult[]> {
    return transientAware('reports not read', () => {
      const policies = this.db
        .prepare(
          `SELECT p.id AS policy, r.organization, r.report_id, r.start_time, r.end_time, r.received_at, r.via,
                  p.policy_type, p.policy_domain, p.successful_sessions, p.failed_sessions
           FROM tlsrpt_policies p JOIN tlsrpt_reports r ON r.id = p.report
           WHERE r.end_time >= @since AND (@domain IS NULL OR p.policy_domain = @domain)
           ORDER BY r.start_time, r.id, p.id`,
        )
        .all({ since: filter.sinceDay, domain: filter.domain ?? null }) as PolicyRow[];
      if (policies.length === 0) return [];
      const failures = new Map<number, FailureDetail[]>();
      const failureRows = this.db
        .prepare(
          `SELECT f.* FROM tlsrpt_failures f JOIN tlsrpt_policies p ON p.id = f.policy JOIN tlsrpt_reports r ON r.id = p.report
           WHERE r.end_time >= @since AND (@domain IS NULL OR p.policy_domain = @domain) ORDER BY f.rowid`,
        )
        .all({ since: filter.sinceDay, domain: filter.domain ?? null }) as FailureRow[];
      for (const row of failureRows) {
        let list = failures.get(row.policy);
        if (!list) failures.set(row.policy, (list = []));
        list.push({
          resultType: row.result_type,
          sendingMtaIp: row.sending_mta_ip,
          receivingIp: row.receiving_ip,
          receivingMxHostname: row.receiving_mx_hostname,
          receivingMxHelo: row.receiving_mx_helo,
          failureReasonCode: row.failure_reason_code,
          sessions: row.sessions,
        });
      }
      return policies.map((row) => ({
        organization: row.organization,
        reportId: row.report_id,
        start: row.start_time,
        end: row.end_time,
        receivedAt: row.received_at,
        via: row.via,
        policyType: row.policy_type,
        policyDomain: row.policy_domain,
        successfulSessions: row.successful_sessions,
        failedSessions: row.failed_sessions,
        failures: failures.get(row.policy) ?? [],
      }));
    });
  }

  async rejected(filter: { sinceDay: string }): Promise<Omit<RejectedReport, 'raw'>[]> {
    return transientAware('rejected reports not read', () =>
      (
        this.db
          .prepare(
            `SELECT received_at, via, reason, media_type, size FROM tlsrpt_rejected WHERE received_at >= ? ORDER BY received_at, id`,
          )
          .all(filter.sinceDay) as { received_at: string; via: IntakePath; reason: string; media_type: string; size: number }[]
      ).map((row) => ({
        receivedAt: row.received_at,
        via: row.via,
        reason: row.reason,
        mediaType: row.media_type,
        size: row.size,
      })),
    );
  }

  async rawReport(organization: string, reportId: string): Promise<Buffer | undefined> {
    return transientAware('report not read', () => {
      const row = this.db
        .prepare('SELECT raw_gzip FROM tlsrpt_reports WHERE organization = ? AND report_id = ?')
        .get(organization, reportId) as { raw_gzip: Buffer } | undefined;
      return row?.raw_gzip;
    });
  }

  async prune(beforeDay: string): Promise<number> {
    return transientAware('old reports not deleted', () =>
      this.db.transaction(
        () =>
          this.db.prepare('DELETE FROM tlsrpt_reports WHERE end_time < ?').run(beforeDay).changes +
          this.db.prepare('DELETE FROM tlsrpt_rejected WHERE received_at < ?').run(beforeDay).changes,
      )(),
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
