import type { LifecycleView } from '../lifecycle/lifecycle-view.js';
import type { ProviderFetchStatistics } from '../storage/fetch-statistics-store.js';
import type { ProviderClassifier } from './providers.js';

/*
 * The numbers of `stats --json`, computed once for the command and the dashboard: per domain,
 * which providers fetched its policy over a period and whether they have the id served now.
 */

export interface ProviderFetchRow {
  provider: string;
  /** The display name from the provider list. */
  name: string;
  fetches: number;
  addresses: number;
  /** More addresses fetched on some day than the statistics keep (1 000 per day): `addresses` is a lower bound. */
  addresses_capped: boolean;
  first_seen: string;
  last_seen: string;
  last_policy_id: string;
  /** The provider's last fetch got the policy served now: it has the current policy. */
  has_current_policy: boolean | null;
  current_id_fetches: number | null;
  /** Fetches whose user agent claimed a provider the evidence did not confirm. */
  claimed: number;
  fetches_by_policy_id: Record<string, number>;
}

export interface DomainFetchReport {
  domain: string;
  /** null when the domain is no longer served (its statistics outlive it until retention). */
  current_policy_id: string | null;
  mode: string | null;
  /** Removed from the config and served as mode none until `delete_after` (RFC 8461 §8.3). */
  retired: boolean;
  /**
   * For a retired domain or one in mode none: when the last testing or enforce policy served
   * leaves senders' caches, after which its records and policy host can be deleted; else null.
   */
  delete_after: string | null;
  fetches: number;
  current_id_fetches: number | null;
  current_id_share: number | null;
  providers: ProviderFetchRow[];
  /** Provider ids with no fetch of this domain's policy in the period. */
  not_seen: string[];
}

/** A share as `stats` and the dashboard show it: whole percent, rounded down. */
export const sharePercent = (part: number, whole: number) => `${Math.floor((part / whole) * 100)}%`;

/**
 * Per domain, the providers that fetched its policy over the period `rows` cover (the most fetches
 * first) and how many fetches got the id served now: the served domains in their order, then
 * removed ones that still have statistics, sorted. `retired` and `delete_after` come from the
 * policy history, which the caller reads.
 */
export function fetchReports(
  served: readonly { domain: string; id: string; policy: { mode: string } }[],
  rows: readonly ProviderFetchStatistics[],
  classifier: ProviderClassifier,
): Omit<DomainFetchReport, 'retired' | 'delete_after'>[] {
  const byDomain = new Map<string, ProviderFetchStatistics[]>();
  for (const row of rows) {
    const domainRows = byDomain.get(row.domain);
    if (domainRows) domainRows.push(row);
    else byDomain.set(row.domain, [row]);
  }
  const current = new Map(served.map((policy) => [policy.domain, policy]));
  // Configured domains in config order, then domains that were removed but still have statistics.
  const domains = [...new Set([...current.keys(), ...[...byDomain.keys()].sort()])];
  return domains.map((domain) => {
    const policy = current.get(domain);
    const currentId = policy?.id ?? null;
    const providers = (byDomain.get(domain) ?? [])
      .map((row): ProviderFetchRow => ({
        provider: row.provider,
        name: classifier.providerName(row.provider),
        fetches: row.fetches,
        addresses: row.addresses,
        addresses_capped: row.addressesCapped,
        first_seen: row.firstSeen,
        last_seen: row.lastSeen,
        last_policy_id: row.lastPolicyId,
        has_current_policy: currentId === null ? null : row.lastPolicyId === currentId,
        current_id_fetches: currentId === null ? null : (row.fetchesByPolicyId[currentId] ?? 0),
        claimed: row.claimed,
        fetches_by_policy_id: row.fetchesByPolicyId,
      }))
      .sort((a, b) => b.fetches - a.fetches || a.provider.localeCompare(b.provider));
    const fetches = providers.reduce((sum, row) => sum + row.fetches, 0);
    const currentIdFetches = currentId === null ? null : providers.reduce((sum, row) => sum + row.current_id_fetches!, 0);
    const seen = new Set(providers.map((row) => row.provider));
    return {
      domain,
      current_policy_id: currentId,
      mode: policy?.policy.mode ?? null,
      fetches,
      current_id_fetches: currentIdFetches,
      current_id_share: currentIdFetches === null || fetches === 0 ? null : currentIdFetches / fetches,
      providers,
      not_seen: classifier.providerIds.filter((id) => !seen.has(id)),
    };
  });
}

/** The reports with `retired` and `delete_after` from the policy history (RFC 8461 §8.3). */
export function withDomainEnds(
  reports: readonly Omit<DomainFetchReport, 'retired' | 'delete_after'>[],
  lifecycle: Pick<LifecycleView, 'retirements' | 'cachedUntil'>,
): DomainFetchReport[] {
  const retired = new Set(lifecycle.retirements.map((retirement) => retirement.domain));
  return reports.map((report) => {
    const ending = retired.has(report.domain) || report.mode === 'none';
    const until = ending ? lifecycle.cachedUntil(report.domain) : undefined;
    return {
      ...report,
      retired: retired.has(report.domain),
      delete_after: until === undefined ? null : new Date(until).toISOString(),
    };
  });
}
