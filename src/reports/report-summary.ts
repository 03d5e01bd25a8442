import { daysBefore, utcDay } from '../time/days.js';
import type { StoredPolicyResult } from '../storage/tls-report-store.js';
import { blocksEnforce } from './tls-report.js';

/** RFC 8460 reports cover a UTC day; readiness looks at this many of the last days. */
export const READINESS_DAYS = 14;
/** Reporting organizations needed over READINESS_DAYS before enforce is called safe. */
export const READINESS_ORGANIZATIONS = 2;

interface SessionCounts {
  reports: number;
  successful_sessions: number;
  failed_sessions: number;
}

export interface OrganizationSummary extends SessionCounts {
  organization: string;
}

export interface FailureSummary {
  result_type: string;
  /** null when the reports do not name the MX. */
  receiving_mx_hostname: string | null;
  sessions: number;
}

export interface DaySummary extends SessionCounts {
  /** YYYY-MM-DD, the UTC day the reports cover. */
  day: string;
}

export interface EnforceReadiness {
  ready: boolean;
  blockers: string[];
}

/** One domain in `reports --json`: names fixed, scripts read them. */
export interface DomainReportSummary extends SessionCounts {
  domain: string;
  /** The mode served now; null when the domain is no longer in the config. */
  mode: string | null;
  organizations: OrganizationSummary[];
  failures: FailureSummary[];
  days: DaySummary[];
  /** For domains in testing mode: whether enforce would bounce mail, judged on the last READINESS_DAYS days. */
  enforce_readiness: EnforceReadiness | null;
}

/**
 * The first day to ask the store for, to summarize from `sinceDay` with readiness (the last
 * READINESS_DAYS days, whatever the period shown): a report's day is the middle of its range, so
 * one that ended the day before may still count.
 */
export function reportQuerySince(sinceDay: string, now: Date): string {
  const readinessDay = daysBefore(now, READINESS_DAYS - 1);
  return daysBefore(new Date(`${sinceDay < readinessDay ? sinceDay : readinessDay}T00:00:00Z`), 1);
}

/**
 * The UTC day a report covers: the middle of its date range, so a report for a day in another
 * time zone (Mail.ru's 00:00+03:00 to 23:59+03:00) counts on that day, not the one before.
 */
export function reportDay(result: Pick<StoredPolicyResult, 'start' | 'end'>): string {
  return utcDay(new Date((Date.parse(result.start) + Date.parse(result.end)) / 2));
}

const addCounts = (counts: SessionCounts, result: StoredPolicyResult) => {
  counts.reports++;
  counts.successful_sessions += result.successfulSessions;
  counts.failed_sessions += result.failedSessions;
};
const noCounts = (): SessionCounts => ({ reports: 0, successful_sessions: 0, failed_sessions: 0 });

/**
 * Sums stored report policies per domain over [sinceDay, untilDay], by organization, failure
 * (result type and receiving MX) and day. `served` lists the configured domains and modes, in
 * config order; domains no longer configured follow, sorted.
 */
export function summarizeReports(
  results: readonly StoredPolicyResult[],
  served: readonly { domain: string; mode: string }[],
  period: { sinceDay: string; untilDay: string },
  now: Date,
): DomainReportSummary[] {
  const byDomain = new Map<string, StoredPolicyResult[]>();
  for (const result of results) {
    const list = byDomain.get(result.policyDomain);
    if (list) list.push(result);
    else byDomain.set(result.policyDomain, [result]);
  }
  const modes = new Map(served.map(({ domain, mode }) => [domain, mode]));
  const domains = [...new Set([...modes.keys(), ...[...byDomain.keys()].sort()])];
  return domains.map((domain) => {
    const all = byDomain.get(domain) ?? [];
    const inPeriod = all.filter((result) => {
      const day = reportDay(result);
      return day >= period.sinceDay && day <= period.untilDay;
    });
    const mode = modes.get(domain) ?? null;
    return {
      domain,
      mode,
      ...totals(inPeriod),
      organizations: groupCounts(inPeriod, (result) => result.organization).map(([organization, counts]) => ({
        organization,
        ...counts,
      })),
      failures: failureSummaries(inPeriod),
      days: groupCounts(inPeriod, reportDay)
        .map(([day, counts]) => ({ day, ...counts }))
        .sort((a, b) => a.day.localeCompare(b.day)),
      enforce_readiness: mode === 'testing' ? enforceReadiness(all, now) : null,
    };
  });
}

function totals(results: readonly StoredPolicyResult[]): SessionCounts {
  const counts = noCounts();
  for (const result of results) addCounts(counts, result);
  return counts;
}

/** Counts per key, the most sessions first. */
function groupCounts(
  results: readonly StoredPolicyResult[],
  keyOf: (result: StoredPolicyResult) => string,
): [string, SessionCounts][] {
  const groups = new Map<string, SessionCounts>();
  for (const result of results) {
    const key = keyOf(result);
    let counts = groups.get(key);
    if (!counts) groups.set(key, (counts = noCounts()));
    addCounts(counts, result);
  }
  return [...groups].sort(
    ([keyA, a], [keyB, b]) =>
      b.successful_sessions + b.failed_sessions - (a.successful_sessions + a.failed_sessions) || keyA.localeCompare(keyB),
  );
}

/** Failure details summed by result type and receiving MX, the most sessions first. */
function failureSummaries(results: readonly StoredPolicyResult[]): FailureSummary[] {
  const groups = new Map<string, FailureSummary>();
  for (const result of results) {
    for (const failure of result.failures) {
      const key = `${failure.resultType}\u0000${failure.receivingMxHostname ?? ''}`;
      let summary = groups.get(key);
      if (!summary) {
        summary = { result_type: failure.resultType, receiving_mx_hostname: failure.receivingMxHostname, sessions: 0 };
        groups.set(key, summary);
      }
      summary.sessions += failure.sessions;
    }
  }
  return [...groups.values()].sort(
    (a, b) =>
      b.sessions - a.sessions ||
      a.result_type.localeCompare(b.result_type) ||
      (a.receiving_mx_hostname ?? '').localeCompare(b.receiving_mx_hostname ?? ''),
  );
}

/**
 * Enforce is safe to switch on when, over the last READINESS_DAYS days, reports came from at
 * least READINESS_ORGANIZATIONS organizations (so the verdict rests on more than one sender's
 * view) and no session failed in a way enforce turns into a bounce (blocksEnforce).
 */
export function enforceReadiness(results: readonly StoredPolicyResult[], now: Date): EnforceReadiness {
  const recent = recentResults(results, now);
  const blockers: string[] = [];
  const organizations = new Set(recent.map((result) => result.organization)).size;
  if (organizations < READINESS_ORGANIZATIONS) {
    blockers.push(
      `reports from ${organizations} organization${organizations === 1 ? '' : 's'} in the last ${READINESS_DAYS} days; at least ${READINESS_ORGANIZATIONS} needed`,
    );
  }
  blockers.push(...enforceBlockingFailures(recent, now));
  return { ready: blockers.length === 0, blockers };
}

const recentResults = (results: readonly StoredPolicyResult[], now: Date) => {
  const firstDay = daysBefore(now, READINESS_DAYS - 1);
  return results.filter((result) => reportDay(result) >= firstDay);
};

/** The failures of the last READINESS_DAYS days that enforce turns into bounces (blocksEnforce), one sentence each. */
export function enforceBlockingFailures(results: readonly StoredPolicyResult[], now: Date): string[] {
  const blockers: string[] = [];
  for (const failure of failureSummaries(recentResults(results, now))) {
    if (!blocksEnforce(failure.result_type)) continue;
    const at = failure.receiving_mx_hostname ?? 'an MX the reports do not name';
    blockers.push(`${failure.result_type} at ${at}: ${failure.sessions} session${failure.sessions === 1 ? '' : 's'}`);
  }
  return blockers;
}
