import type { ReportReceivers } from '../dns/records.js';
import type { LiveFetches } from '../fetches/live-fetches.js';
import type { ProviderClassifier } from '../fetches/providers.js';
import type { CheckedDomain } from '../health/reload-risks.js';
import type { LifecycleView } from '../lifecycle/lifecycle-view.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { DomainHistory } from '../policy/retirement.js';
import type { FetchStatisticsStore } from '../storage/fetch-statistics-store.js';
import type { TlsReportStore } from '../storage/tls-report-store.js';
import type { LiveCertificate } from '../tls/certificate.js';
import type { CertificateRow } from '../tls/certificate-rows.js';

/**
 * What the dashboard reads, handed in by the composition root: the parts the service already
 * runs, asked at each request, so that the page shows what is served and stored right now. The
 * dashboard only reads; nothing here changes state.
 */
export interface DashboardSources {
  /** The policies served now (retiring domains included). */
  policies: () => PolicySet;
  /** The provider list in effect now (a refresh from SPF records replaces it). */
  classifier: () => ProviderClassifier;
  /** The certificate served now, for the overview's days left. */
  certificateFor: (host: string) => LiveCertificate | undefined;
  /** A host's certificate with its next renewal and last error, as `certs` reads them from the state directory. */
  certificateRow: (host: string) => Promise<CertificateRow>;
  /** Opens the fetch statistics read-only (as `stats` does); rejects when there are none. */
  openFetchStatistics: () => Promise<FetchStatisticsStore>;
  /** Opens the TLS report store read-only (as `reports` does); rejects when there is none. */
  openTlsReportStore: () => Promise<TlsReportStore>;
  /** The policy history (RFC 8461 §8.3), when the service keeps one. */
  lifecycle?: { view(): LifecycleView; history(domain: string): DomainHistory | undefined } | undefined;
  /** The self-check's last result per domain, when health checks are on. */
  healthChecks?: (() => readonly CheckedDomain[]) | undefined;
  /** The service's own TLS report receivers, for the `_smtp._tls` record (as `dns` prints it). */
  receivers: ReportReceivers;
  live: LiveFetches;
  /** "Now", for tests. */
  now?: () => Date;
}
