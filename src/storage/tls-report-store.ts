/** How a report reached the service. */
export type IntakePath = 'smtp' | 'https' | 'imap' | 'import';
export const INTAKE_PATHS: readonly IntakePath[] = ['smtp', 'https', 'imap', 'import'];

/**
 * The store could not answer for now (disk full, database busy past its timeout): the sender
 * should retry (SMTP 4xx, HTTP 503). Anything else a store throws is a bug, not a retry.
 */
export class ReportStoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReportStoreUnavailableError';
  }
}

/** RFC 8460 §4.4 policy types. */
export const POLICY_TYPES = ['sts', 'tlsa', 'no-policy-found'] as const;

/** A failure detail as stored: the RFC's fields under the names the store and `reports` use. */
export interface FailureDetail {
  resultType: string;
  sendingMtaIp: string | null;
  receivingIp: string | null;
  receivingMxHostname: string | null;
  receivingMxHelo: string | null;
  /** RFC 8460 §4.4 failure-reason-code (the Appendix B example writes failure-error-code). */
  failureReasonCode: string | null;
  sessions: number;
}

/** One policy of a report as stored: totals from the summary, breakdown from the failure details. */
export interface PolicyResult {
  policyType: (typeof POLICY_TYPES)[number];
  policyDomain: string;
  policyString: string | null;
  mxHosts: string[];
  successfulSessions: number;
  failedSessions: number;
  failures: FailureDetail[];
}

/** The parts of a report every store keeps, beside the raw report. */
export interface ReportFacts {
  organization: string;
  reportId: string;
  contactInfo: string | null;
  /** ISO 8601, UTC (normalised from the sender's RFC 3339 offset). */
  start: string;
  end: string;
  policies: PolicyResult[];
}

/** A report to keep: its facts and the raw report, gzip-compressed, for audit. */
export interface ReportToStore {
  facts: ReportFacts;
  compressed: Buffer;
  via: IntakePath;
  /** ISO 8601. */
  receivedAt: string;
}

/** A report kept as rejected: what arrived (cut to a bound) and why it was refused. */
export interface RejectedReport {
  via: IntakePath;
  receivedAt: string;
  reason: string;
  /** The media type the bytes are in (a report type, or message/rfc822 for a whole message). */
  mediaType: string;
  /** At most max_report_bytes of what arrived. */
  raw: Buffer;
  /** The whole input's size, which may exceed raw's. */
  size: number;
}

/** One policy of one stored report, as `reports` sums them up. */
export interface StoredPolicyResult {
  organization: string;
  reportId: string;
  start: string;
  end: string;
  receivedAt: string;
  via: IntakePath;
  policyType: string;
  policyDomain: string;
  successfulSessions: number;
  failedSessions: number;
  failures: FailureDetail[];
}

/**
 * Where TLS reports are kept. SQLite in the state directory is the embedded store; a database
 * shared by several replicas implements the same calls.
 */
export interface TlsReportStore {
  /**
   * Stores a report, durably before it resolves. Returns false, storing nothing, when a report
   * with the same organization and report id is already stored (senders retry).
   * Throws ReportStoreUnavailableError when the store cannot write for now.
   */
  add(report: ReportToStore): Promise<boolean>;
  /** Keeps a rejected report with the reason. Throws ReportStoreUnavailableError like add. */
  addRejected(rejected: RejectedReport): Promise<void>;
  /** The policies of reports whose date range ends on or after `sinceDay` (YYYY-MM-DD, UTC), oldest first. */
  policyResults(filter: { sinceDay: string; domain?: string }): Promise<StoredPolicyResult[]>;
  /** Rejected reports received on or after `sinceDay`, oldest first; raw left out. */
  rejected(filter: { sinceDay: string }): Promise<Omit<RejectedReport, 'raw'>[]>;
  /** The raw (gzip) report, for audit; undefined when none is stored. */
  rawReport(organization: string, reportId: string): Promise<Buffer | undefined>;
  /** Deletes reports whose date range ended before `beforeDay` and rejections received before it; returns how many went. */
  prune(beforeDay: string): Promise<number>;
  close(): Promise<void>;
}
