import { Counter, type Registry } from 'prom-client';
import { printable } from '../text/printable.js';
import type { IntakeMetrics, IntakeOutcome } from './intake.js';
import type { IntakePath, ReportFacts } from '../storage/tls-report-store.js';

/** Characters of an organization name kept as a label value. */
const ORGANIZATION_LABEL_LIMIT = 64;
/** Distinct organizations labelled; later ones are counted as "other", so a flood of names cannot grow the series without bound. */
const MAX_ORGANIZATIONS = 200;
export const OTHER_ORGANIZATION = 'other';

/** TLS report metrics, on the service's registry. */
export class ReportMetrics implements IntakeMetrics {
  private readonly sessions: Counter<'domain' | 'organization' | 'result'>;
  private readonly received: Counter<'via' | 'outcome'>;
  private readonly organizations = new Set<string>();

  constructor(registry: Registry) {
    this.sessions = new Counter({
      name: 'mta_sts_tlsrpt_sessions_total',
      help: 'Sessions reported in stored TLS reports (RFC 8460), by policy domain, reporting organization and result (successful, failed).',
      labelNames: ['domain', 'organization', 'result'],
      registers: [registry],
    });
    this.received = new Counter({
      name: 'mta_sts_tlsrpt_reports_received_total',
      help: 'TLS reports received, by intake path (smtp, https, imap, import) and outcome (stored, duplicate, rejected, unavailable).',
      labelNames: ['via', 'outcome'],
      registers: [registry],
    });
  }

  reportReceived(via: IntakePath, outcome: IntakeOutcome['outcome'] | 'unavailable'): void {
    this.received.inc({ via, outcome });
  }

  reportStored(report: ReportFacts): void {
    const organization = this.organizationLabel(report.organization);
    // Policy domains are domains served here (the intake refuses others): a bounded set of label values.
    for (const policy of report.policies) {
      this.sessions.inc({ domain: policy.policyDomain, organization, result: 'successful' }, policy.successfulSessions);
      this.sessions.inc({ domain: policy.policyDomain, organization, result: 'failed' }, policy.failedSessions);
    }
  }

  private organizationLabel(organization: string): string {
    const label = printable(organization, ORGANIZATION_LABEL_LIMIT);
    if (this.organizations.has(label)) return label;
    if (this.organizations.size >= MAX_ORGANIZATIONS) return OTHER_ORGANIZATION;
    this.organizations.add(label);
    return label;
  }
}
