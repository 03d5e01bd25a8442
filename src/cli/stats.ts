import { ProviderClassifier, SHIPPED_PROVIDERS_FILE, UNKNOWN_PROVIDER } from '../fetches/providers.js';
import type { ProviderFetchStatistics } from '../storage/fetch-statistics-store.js';
import { utcDay } from '../time/days.js';
import { openBackends } from '../storage/backends.js';
import { formatMoment, readLifecycle } from '../lifecycle/lifecycle-view.js';
import { PolicySet } from '../policy/policy-set.js';
import { retirementPolicy } from '../policy/retirement.js';
import { periodOf } from './period.js';
import { formatTable } from './table.js';

export interface StatsOptions {
  domain?: string;
  /** "7d", "2w" or a date, YYYY-MM-DD; the last 7 days when absent. */
  since?: string;
  json: boolean;
  /** "Now", for tests. */
  now?: Date;
}

/** Configured domains without fetches are named one by one up to this many; above it, counted. */
const NAME_IDLE_DOMAINS_UP_TO = 20;

interface ProviderRow {
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

interface DomainReport {
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
  providers: ProviderRow[];
  /** Provider ids with no fetch of this domain's policy in the period. */
  not_seen: string[];
}

/**
 * `mta-sts-server stats`: who fetched each domain's policy over a period, from the statistics the
 * service keeps in its state directory, and whether they got the policy served now.
 */
export async function printStats(
  path: string,
  options: StatsOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const now = options.now ?? new Date();
  const period = await periodOf(path, options, '7d', now, err);
  if (!period) return 2;
  const { config, sinceDay, domain: wanted } = period;
  let rows: ProviderFetchStatistics[];
  let classifier: ProviderClassifier;
  try {
    classifier = await ProviderClassifier.fromFiles([
      SHIPPED_PROVIDERS_FILE,
      ...(config.providersFile ? [config.providersFile] : []),
    ]);
    const store = await openBackends(config).openFetchStatistics('read-only');
    try {
      rows = await store.query({ sinceDay, ...(wanted !== undefined && { domain: wanted }) });
    } finally {
      await store.close();
    }
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    if (!config.statistics.enabled) err.write(`(statistics.enabled is false in ${path})\n`);
    return 1;
  }
  const lifecycle = await readLifecycle(config, now.getTime());
  for (const problem of lifecycle.problems) err.write(`note: ${problem}\n`);
  const retired = new Set(lifecycle.retirements.map((retirement) => retirement.domain));
  const served = [...new PolicySet([...config.domains, ...[...retired].map(retirementPolicy)]).policies].filter(
    (policy) => wanted === undefined || policy.domain === wanted,
  );
  // A removed domain still has its statistics until retention; a name with neither is a typo.
  if (wanted !== undefined && served.length === 0 && rows.length === 0) {
    err.write(`${options.domain} is not a domain in ${path}, and no statistics since ${sinceDay} name it\n`);
    return 2;
  }
  const reports = domainReports(served, rows, classifier).map((report) => {
    const ending = retired.has(report.domain) || report.mode === 'none';
    const until = ending ? lifecycle.cachedUntil(report.domain) : undefined;
    return { ...report, retired: retired.has(report.domain), delete_after: until === undefined ? null : new Date(until).toISOString() };
  });
  const until = utcDay(now);
  if (options.json) {
    out.write(`${JSON.stringify({ since: sinceDay, until, domains: reports }, null, 2)}\n`);
    return 0;
  }
  out.write(`Policy fetches from ${sinceDay} to ${until} (UTC days)\n`);
  const idle = reports.filter((report) => report.fetches === 0);
  for (const report of reports) if (report.fetches > 0) out.write(`\n${renderDomain(report, classifier)}`);
  if (idle.length > 0) {
    const names = idle.length <= NAME_IDLE_DOMAINS_UP_TO ? `: ${idle.map((report) => report.domain).join(', ')}` : '';
    out.write(`\nNo fetches for ${idle.length} domain${idle.length === 1 ? '' : 's'}${names}\n`);
    for (const report of idle) if (report.retired || report.delete_after !== null) out.write(`  ${report.domain}: ${modeNote(report)}\n`);
  }
  return 0;
}

function domainReports(
  served: { domain: string; id: string; policy: { mode: string } }[],
  rows: ProviderFetchStatistics[],
  classifier: ProviderClassifier,
): Omit<DomainReport, 'retired' | 'delete_after'>[] {
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
      .map((row): ProviderRow => ({
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

const shortTime = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
const percent = (part: number, whole: number) => `${Math.floor((part / whole) * 100)}%`;

/** "unknown" is not one sender: only identified providers can be said to have picked the policy up, or not. */
function whoHasTheCurrentPolicy(providers: readonly ProviderRow[]): string {
  const identified = providers.filter((row) => row.provider !== UNKNOWN_PROVIDER);
  if (identified.length === 0) return 'all from unknown senders: no provider identified yet.';
  const behind = identified.filter((row) => !row.has_current_policy);
  if (behind.length === 0) return 'every identified provider has fetched it.';
  return `not fetched since it changed: ${behind.map((row) => `${row.name} (last ${shortTime(row.last_seen)})`).join(', ')}.`;
}

function modeNote(report: DomainReport): string {
  const deleteAfter = report.delete_after === null ? '' : `; delete its records after ${formatMoment(Date.parse(report.delete_after))}`;
  return `${report.retired ? 'removed from the config, retiring: mode none' : `mode ${report.mode}`}${deleteAfter}`;
}

function renderDomain(report: DomainReport, classifier: ProviderClassifier): string {
  const heading =
    report.current_policy_id === null
      ? `${report.domain} (no longer in the config)`
      : `${report.domain}: serving policy id ${report.current_policy_id} (${modeNote(report)})`;
  const table = formatTable(
    [['PROVIDER', 'FETCHES', 'ADDRESSES', 'FIRST SEEN', 'LAST SEEN', 'LAST POLICY ID', 'GOT CURRENT ID']].concat(
      report.providers.map((row) => [
        row.name,
        String(row.fetches),
        row.addresses_capped ? `${row.addresses}+` : String(row.addresses),
        shortTime(row.first_seen),
        shortTime(row.last_seen),
        row.last_policy_id === report.current_policy_id ? `${row.last_policy_id} (current)` : row.last_policy_id,
        row.current_id_fetches === null ? '-' : `${row.current_id_fetches} (${percent(row.current_id_fetches, row.fetches)})`,
      ]),
    ),
    '  ',
  );
  const lines = [heading, table.trimEnd()];
  if (report.current_id_fetches !== null) {
    lines.push(
      `  ${report.current_id_fetches} of ${report.fetches} fetches (${percent(report.current_id_fetches, report.fetches)}) got the current policy id; ` +
        whoHasTheCurrentPolicy(report.providers),
    );
  }
  const claimed = report.providers.filter((row) => row.claimed > 0);
  if (claimed.length > 0) {
    const count = claimed.reduce((sum, row) => sum + row.claimed, 0);
    lines.push(
      `  ${count} fetch${count === 1 ? '' : 'es'} named a provider in the user agent that address and reverse DNS did not confirm ` +
        `(counted under ${claimed.map((row) => `${row.name}: ${row.claimed}`).join(', ')}).`,
    );
  }
  if (report.not_seen.length > 0)
    lines.push(`  Not seen: ${report.not_seen.map((id) => classifier.providerName(id)).join(', ')}.`);
  return `${lines.join('\n')}\n`;
}
