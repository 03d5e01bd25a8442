import type { Logger } from 'pino';
import { loggable, printable } from '../text/printable.js';
import { decodeReport, type DecodedReport } from './decode.js';
import {
  ReportStoreUnavailableError,
  type IntakePath,
  type ReportFacts,
  type TlsReportStore,
} from '../storage/tls-report-store.js';

export { ReportStoreUnavailableError, type IntakePath, type TlsReportStore };

/** What callers learn about a report they handed in: enough for a log line and an answer. */
export interface StoredReportSummary {
  organization: string;
  reportId: string;
  policyDomains: string[];
  start: string;
  end: string;
  successfulSessions: number;
  failedSessions: number;
}

export type IntakeOutcome =
  /** Every report in the input is stored, durably (after the commit); some may have been stored before. */
  | { outcome: 'stored'; reports: StoredReportSummary[] }
  /** All reports in the input were already stored (same organization and report id): a sender's retry. */
  | { outcome: 'duplicate'; reports: StoredReportSummary[] }
  /** Malformed, too big, not for a domain served here: a permanent failure (SMTP 5xx, HTTP 400), kept as rejected. */
  | { outcome: 'rejected'; reason: string };

/** What the intake counts; ReportMetrics implements it for Prometheus. */
export interface IntakeMetrics {
  reportReceived(via: IntakePath, outcome: IntakeOutcome['outcome'] | 'unavailable'): void;
  reportStored(report: ReportFacts): void;
}

/**
 * The one way into the report store: SMTP, HTTPS, IMAP and `reports import` all go through it,
 * so every path decodes, checks, deduplicates, logs and counts the same way.
 * A transient store failure (disk full, database busy) throws ReportStoreUnavailableError: the
 * caller answers "try again" (SMTP 4xx, HTTP 503) and the sender's retry stores the report once.
 */
export interface ReportIntake {
  /** A report body as RFC 8460 §3 sends it over HTTPS: mediaType application/tlsrpt+gzip or application/tlsrpt+json. */
  receiveReport(body: Buffer, mediaType: string, via: IntakePath): Promise<IntakeOutcome>;
  /** A whole RFC 5322 message (SMTP DATA, an IMAP message, an .eml file): its tlsrpt parts (RFC 8460 §5.3). */
  receiveMessage(message: Buffer, via: IntakePath): Promise<IntakeOutcome>;
}

export interface ReportIntakeOptions {
  store: TlsReportStore;
  /** The policy domains served now (A-labels, lower case): reports for others are rejected. */
  domains: () => ReadonlySet<string>;
  log: Logger;
  metrics?: IntakeMetrics;
  /** The largest report JSON accepted, inflated; also what is kept of a rejected input. */
  maxReportBytes: number;
  now?: () => Date;
}

const MESSAGE_MEDIA_TYPE = 'message/rfc822';

export function createReportIntake(options: ReportIntakeOptions): ReportIntake {
  return new StoreIntake(options);
}

type Checked = DecodedReport | { ok: false; reason: string };

class StoreIntake implements ReportIntake {
  constructor(private readonly options: ReportIntakeOptions) {}

  async receiveReport(body: Buffer, mediaType: string, via: IntakePath): Promise<IntakeOutcome> {
    return this.counted(via, async () => {
      const checked = this.forOurDomains(await decodeReport(body, mediaType, this.options.maxReportBytes));
      if (!checked.ok) return this.reject(via, checked.reason, body, mediaType);
      return this.store([checked], via);
    });
  }

  async receiveMessage(message: Buffer, via: IntakePath): Promise<IntakeOutcome> {
    return this.counted(via, async () => {
      let parts;
      try {
        // The MIME parser (mailparser, about 30 MB of memory) loads with the first report by mail.
        const { extractReportParts } = await import('./mime.js');
        parts = await extractReportParts(message);
      } catch (error) {
        return this.reject(
          via,
          `message is not readable MIME: ${printable((error as Error).message, 200)}`,
          message,
          MESSAGE_MEDIA_TYPE,
        );
      }
      if (parts.length === 0) {
        return this.reject(
          via,
          'message has no TLS report (no application/tlsrpt+gzip or +json part)',
          message,
          MESSAGE_MEDIA_TYPE,
        );
      }
      const checked = await Promise.all(
        parts.map(async (part) => ({
          part,
          result: this.forOurDomains(await decodeReport(part.content, part.mediaType, this.options.maxReportBytes)),
        })),
      );
      const good = checked.flatMap(({ result }) => (result.ok ? [result] : []));
      const bad = checked.flatMap(({ part, result }) => (result.ok ? [] : [{ part, reason: result.reason }]));
      if (good.length === 0) {
        const reason = bad.map(({ reason }) => reason).join('; ');
        return this.reject(via, reason, message, MESSAGE_MEDIA_TYPE);
      }
      // The good reports of a message are kept even when another part is bad; the bad parts are kept as rejected.
      for (const { part, reason } of bad) await this.reject(via, reason, part.content, part.mediaType);
      return this.store(good, via);
    });
  }

  /** Counts the outcome (or the store being unavailable) per intake path. */
  private async counted(via: IntakePath, receive: () => Promise<IntakeOutcome>): Promise<IntakeOutcome> {
    try {
      const outcome = await receive();
      this.options.metrics?.reportReceived(via, outcome.outcome);
      return outcome;
    } catch (error) {
      if (error instanceof ReportStoreUnavailableError) {
        this.options.metrics?.reportReceived(via, 'unavailable');
        this.options.log.error(
          { event: 'tlsrpt_store_unavailable', via, error: error.message },
          'TLS report not stored; the sender is asked to retry',
        );
      }
      throw error;
    }
  }

  /** A report for a domain this server does not serve is refused: it is not ours to keep. */
  private forOurDomains(decoded: Checked): Checked {
    if (!decoded.ok) return decoded;
    const served = this.options.domains();
    const policies = decoded.facts.policies;
    if (policies.length === 0) return { ok: false, reason: 'report has no policies' };
    const foreign = [...new Set(policies.map((policy) => policy.policyDomain).filter((domain) => !served.has(domain)))];
    if (foreign.length > 0) {
      return {
        ok: false,
        reason: `report is for ${foreign.map((domain) => printable(domain, 253)).join(', ')}, not a domain served here`,
      };
    }
    return decoded;
  }

  private async store(reports: readonly DecodedReport[], via: IntakePath): Promise<IntakeOutcome> {
    const receivedAt = this.now().toISOString();
    const summaries: StoredReportSummary[] = [];
    let added = 0;
    for (const report of reports) {
      const summary = reportSummary(report.facts);
      summaries.push(summary);
      if (!(await this.options.store.add({ facts: report.facts, compressed: report.compressed, via, receivedAt }))) {
        this.options.log.info(
          { event: 'tlsrpt_duplicate', via, organization: loggable(summary.organization), report_id: loggable(summary.reportId) },
          'TLS report already stored',
        );
        continue;
      }
      added++;
      this.options.metrics?.reportStored(report.facts);
      this.options.log.info(
        {
          event: 'tlsrpt_report',
          via,
          organization: loggable(summary.organization),
          report_id: loggable(summary.reportId),
          policy_domain: summary.policyDomains.join(','),
          period_start: summary.start,
          period_end: summary.end,
          successful_sessions: summary.successfulSessions,
          failed_sessions: summary.failedSessions,
        },
        'TLS report stored',
      );
    }
    return { outcome: added > 0 ? 'stored' : 'duplicate', reports: summaries };
  }

  private async reject(via: IntakePath, reason: string, input: Buffer, mediaType: string): Promise<IntakeOutcome> {
    const shownReason = printable(reason, 1_000);
    await this.options.store.addRejected({
      via,
      receivedAt: this.now().toISOString(),
      reason: shownReason,
      mediaType: printable(mediaType, 100),
      raw: input.subarray(0, this.options.maxReportBytes),
      size: input.length,
    });
    this.options.log.warn({ event: 'tlsrpt_rejected', via, reason: shownReason, bytes: input.length }, 'TLS report rejected');
    return { outcome: 'rejected', reason: shownReason };
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}

function reportSummary(facts: ReportFacts): StoredReportSummary {
  return {
    organization: facts.organization,
    reportId: facts.reportId,
    policyDomains: [...new Set(facts.policies.map((policy) => policy.policyDomain))],
    start: facts.start,
    end: facts.end,
    successfulSessions: facts.policies.reduce((sum, policy) => sum + policy.successfulSessions, 0),
    failedSessions: facts.policies.reduce((sum, policy) => sum + policy.failedSessions, 0),
  };
}
