import { formatZoneLine, recordsToPublish } from '../dns/records.js';
import { fetchReports, withDomainEnds, type DomainFetchReport } from '../fetches/fetch-report.js';
import { UNKNOWN_PROVIDER } from '../fetches/providers.js';
import { shown, type CheckResult, type CheckStatus } from '../health/check-result.js';
import { enforceReadiness as checkedReadiness, type EnforceReadiness } from '../health/enforce-readiness.js';
import type { CheckedDomain } from '../health/reload-risks.js';
import { domainEnd, type LifecycleView } from '../lifecycle/lifecycle-view.js';
import type { ServedPolicy } from '../policy/policy-set.js';
import {
  enforceBlockingFailures,
  READINESS_DAYS,
  reportQuerySince,
  summarizeReports,
  type DomainReportSummary,
} from '../reports/report-summary.js';
import type { ProviderFetchStatistics } from '../storage/fetch-statistics-store.js';
import type { StoredPolicyResult } from '../storage/tls-report-store.js';
import { daysLeft, type CertificateRow } from '../tls/certificate-rows.js';
import { daysBefore, utcDay } from '../time/days.js';
import type { DashboardSources } from './dashboard-sources.js';

/** The periods the overview sums, in days, today included: `stats`'s default week, and `reports` over the readiness window. */
const FETCH_DAYS = 7;
const REPORT_DAYS = READINESS_DAYS;
/** The domain page's charts and its `reports` summary: `reports`'s default period. */
const CHART_DAYS = 30;

/** A UTC period, both days included. */
export interface DayRange {
  since: string;
  until: string;
}

/** One domain in `GET /api/domains`: names fixed, scripts read them. */
export interface OverviewRow {
  domain: string;
  mode: string;
  policy_id: string;
  /** Whether the `_mta-sts` TXT record carried the served id at the last self-check; null when not checked. */
  sts_txt_matches: boolean | null;
  /** Whole days until the served certificate expires; null without one. */
  certificate_days_left: number | null;
  /** The worst of the last self-check's checks; null when not checked. */
  health: CheckStatus | null;
  /** Fetches over the fetch period (as `stats` counts them); null when the statistics cannot be read. */
  fetches: number | null;
  /** Identified providers whose last fetch got the current id, of those that fetched. */
  providers_current: number | null;
  providers_seen: number | null;
  /** TLS sessions the reports over the report period count (as `reports` sums them); null when they cannot be read. */
  tls_successful_sessions: number | null;
  tls_failed_sessions: number | null;
  /** For domains in testing: whether enforce would bounce mail. */
  enforce_readiness: EnforceReadiness | null;
  retired: boolean;
  /** When the domain's records and policy host can be deleted (mode none or retiring); null otherwise. */
  delete_after: string | null;
}

export interface Overview {
  generated_at: string;
  fetch_period: DayRange;
  report_period: DayRange;
  /** Why fetches or reports are missing (the store could not be read), or null. */
  statistics_problem: string | null;
  reports_problem: string | null;
  domains: OverviewRow[];
}

/** One domain in `GET /api/domains/:domain`: everything its page shows. */
export interface DomainDetail {
  generated_at: string;
  domain: string;
  mode: string;
  policy_id: string;
  policy_text: string;
  /** The records `dns` prints for the domain, as zone-file lines (without a policy host address given). */
  dns_records: string[];
  /** As `stats --json --domain` prints it over the fetch period; null when the statistics cannot be read. */
  fetches: DomainFetchReport | null;
  fetch_period: DayRange;
  /** Fetches per UTC day and provider over the chart period, oldest day first. */
  fetch_days: { day: string; providers: Record<string, number> }[];
  chart_period: DayRange;
  /** As `reports --json --domain` prints it over the chart period; null when the reports cannot be read. */
  reports: DomainReportSummary | null;
  statistics_problem: string | null;
  reports_problem: string | null;
  health: { checked_at: string; status: CheckStatus; checks: CheckResult[] } | null;
  enforce_readiness: EnforceReadiness | null;
  /** As `certs --json` shows the policy host. */
  certificate: CertificateRow;
  history: { id: string; mode: string; max_age: number; first_served: string; last_served: string }[];
  retired: boolean;
  delete_after: string | null;
}

const NO_LIFECYCLE: LifecycleView = { retirements: [], cachedUntil: () => undefined, problems: [] };

/** What a store holds, or why it could not be read: the page shows the rest either way. */
type Read<T> = { ok: true; value: T } | { ok: false; problem: string };

async function readStore<Store extends { close(): Promise<void> }, T>(
  open: () => Promise<Store>,
  use: (store: Store) => Promise<T>,
): Promise<Read<T>> {
  let store: Store;
  try {
    store = await open();
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
  try {
    return { ok: true, value: await use(store) };
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  } finally {
    await store.close();
  }
}

const periodOf = (now: Date, days: number): DayRange => ({ since: daysBefore(now, days - 1), until: utcDay(now) });
const problemOf = (read: Read<unknown>) => (read.ok ? null : read.problem);

/**
 * Enforce readiness as `check` judges it when the self-check has seen the domain (its MX hosts and
 * the stored reports' blocking failures), else as `reports` judges it from the reports alone.
 */
function readinessOf(
  served: ServedPolicy,
  checked: CheckedDomain | undefined,
  results: readonly StoredPolicyResult[] | undefined,
  summary: DomainReportSummary | undefined,
  now: Date,
): EnforceReadiness | null {
  if (served.policy.mode !== 'testing') return null;
  if (checked) return checkedReadiness(checked.report, enforceBlockingFailures(results ?? [], now).map(shown));
  return summary?.enforce_readiness ?? null;
}

/** Every served domain's row of the overview, in the served order. */
export async function overview(sources: DashboardSources): Promise<Overview> {
  const now = sources.now?.() ?? new Date();
  const served = [...sources.policies().policies];
  const fetchPeriod = periodOf(now, FETCH_DAYS);
  const reportPeriod = periodOf(now, REPORT_DAYS);
  const statistics = await readStore(sources.openFetchStatistics, (store) => store.query({ sinceDay: fetchPeriod.since }));
  const results = await readStore(sources.openTlsReportStore, (store) =>
    store.policyResults({ sinceDay: reportQuerySince(reportPeriod.since, now) }),
  );
  const lifecycle = sources.lifecycle?.view() ?? NO_LIFECYCLE;
  const fetches = statistics.ok
    ? new Map(fetchReports(served, statistics.value, sources.classifier()).map((report) => [report.domain, report]))
    : undefined;
  const modes = served.map((policy) => ({ domain: policy.domain, mode: policy.policy.mode }));
  const summaries = results.ok
    ? new Map(
        summarizeReports(results.value, modes, { sinceDay: reportPeriod.since, untilDay: reportPeriod.until }, now).map((s) => [
          s.domain,
          s,
        ]),
      )
    : undefined;
  const resultsByDomain = new Map<string, StoredPolicyResult[]>();
  for (const result of results.ok ? results.value : []) {
    const list = resultsByDomain.get(result.policyDomain);
    if (list) list.push(result);
    else resultsByDomain.set(result.policyDomain, [result]);
  }
  const checks = new Map((sources.healthChecks?.() ?? []).map((checked) => [checked.report.domain, checked]));
  const retired = new Set(lifecycle.retirements.map((retirement) => retirement.domain));
  const domains = served.map((policy): OverviewRow => {
    const report = fetches?.get(policy.domain);
    const summary = summaries?.get(policy.domain);
    const checked = checks.get(policy.domain);
    const certificate = sources.certificateFor(policy.host);
    const identified = report?.providers.filter((row) => row.provider !== UNKNOWN_PROVIDER);
    const end = domainEnd(policy, retired, lifecycle);
    const txt = checked?.report.checks.find((check) => check.id === 'sts_txt_id');
    return {
      domain: policy.domain,
      mode: policy.policy.mode,
      policy_id: policy.id,
      sts_txt_matches: txt ? txt.status === 'ok' : null,
      certificate_days_left: certificate ? daysLeft(certificate, now.getTime()) : null,
      health: checked?.report.status ?? null,
      // Every served domain has a report when the statistics could be read (fetchReports lists them all).
      fetches: report?.fetches ?? null,
      providers_current: identified?.filter((row) => row.has_current_policy).length ?? null,
      providers_seen: identified?.length ?? null,
      tls_successful_sessions: summary?.successful_sessions ?? null,
      tls_failed_sessions: summary?.failed_sessions ?? null,
      enforce_readiness: readinessOf(policy, checked, resultsByDomain.get(policy.domain), summary, now),
      retired: end.retired,
      delete_after: end.deleteAfter === undefined ? null : new Date(end.deleteAfter).toISOString(),
    };
  });
  return {
    generated_at: now.toISOString(),
    fetch_period: fetchPeriod,
    report_period: reportPeriod,
    statistics_problem: problemOf(statistics),
    reports_problem: problemOf(results),
    domains,
  };
}

/** Everything a domain's page shows; undefined for a domain not served now. */
export async function domainDetail(sources: DashboardSources, domain: string): Promise<DomainDetail | undefined> {
  const now = sources.now?.() ?? new Date();
  const policy = sources.policies().forHost(`mta-sts.${domain}`);
  if (!policy || policy.domain !== domain) return undefined;
  const fetchPeriod = periodOf(now, FETCH_DAYS);
  const chartPeriod = periodOf(now, CHART_DAYS);
  const days = Array.from({ length: CHART_DAYS }, (_, index) => daysBefore(now, CHART_DAYS - 1 - index));
  const statistics = await readStore(sources.openFetchStatistics, async (store) => ({
    period: await store.query({ sinceDay: fetchPeriod.since, domain }),
    // One query per day: the store's one way of asking, so each bar is what `stats --since` that day would add.
    days: await Promise.all(days.map((day) => store.query({ sinceDay: day, untilDay: day, domain }))),
  }));
  const results = await readStore(sources.openTlsReportStore, (store) =>
    store.policyResults({ sinceDay: reportQuerySince(chartPeriod.since, now), domain }),
  );
  const lifecycle = sources.lifecycle?.view() ?? NO_LIFECYCLE;
  const [fetches] = statistics.ok
    ? withDomainEnds(fetchReports([policy], statistics.value.period, sources.classifier()), lifecycle)
    : [];
  const modes = [{ domain, mode: policy.policy.mode }];
  const [summary] = results.ok
    ? summarizeReports(results.value, modes, { sinceDay: chartPeriod.since, untilDay: chartPeriod.until }, now)
    : [];
  const checked = sources.healthChecks?.().find((entry) => entry.report.domain === domain);
  const end = domainEnd(policy, new Set(lifecycle.retirements.map((retirement) => retirement.domain)), lifecycle);
  return {
    generated_at: now.toISOString(),
    domain,
    mode: policy.policy.mode,
    policy_id: policy.id,
    policy_text: policy.body,
    dns_records: recordsToPublish(policy, {}, sources.receivers).map(formatZoneLine),
    fetches: fetches ?? null,
    fetch_period: fetchPeriod,
    fetch_days: days.map((day, index) => ({
      day,
      providers: statistics.ok ? providerCounts(statistics.value.days[index]!) : {},
    })),
    chart_period: chartPeriod,
    reports: summary ?? null,
    statistics_problem: problemOf(statistics),
    reports_problem: problemOf(results),
    health: checked
      ? { checked_at: checked.checkedAt.toISOString(), status: checked.report.status, checks: checked.report.checks }
      : null,
    enforce_readiness: readinessOf(policy, checked, results.ok ? results.value : undefined, summary, now),
    certificate: await sources.certificateRow(policy.host),
    history: (sources.lifecycle?.history(domain)?.policies ?? []).map((record) => ({
      id: record.id,
      mode: record.mode,
      max_age: record.maxAge,
      first_served: new Date(record.firstServed).toISOString(),
      last_served: new Date(record.lastServed).toISOString(),
    })),
    retired: end.retired,
    delete_after: end.deleteAfter === undefined ? null : new Date(end.deleteAfter).toISOString(),
  };
}

function providerCounts(rows: readonly ProviderFetchStatistics[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.provider] = (counts[row.provider] ?? 0) + row.fetches;
  return counts;
}
