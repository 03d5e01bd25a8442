import {
  fetchReports,
  sharePercent,
  withDomainEnds,
  type DomainFetchReport,
  type ProviderFetchRow,
} from '../fetches/fetch-report.js';
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
  const reports = withDomainEnds(fetchReports(served, rows, classifier), lifecycle);
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
    for (const report of idle)
      if (report.retired || report.delete_after !== null) out.write(`  ${report.domain}: ${modeNote(report)}\n`);
  }
  return 0;
}

const shortTime = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

/** "unknown" is not one sender: only identified providers can be said to have picked the policy up, or not. */
function whoHasTheCurrentPolicy(providers: readonly ProviderFetchRow[]): string {
  const identified = providers.filter((row) => row.provider !== UNKNOWN_PROVIDER);
  if (identified.length === 0) return 'all from unknown senders: no provider identified yet.';
  const behind = identified.filter((row) => !row.has_current_policy);
  if (behind.length === 0) return 'every identified provider has fetched it.';
  return `not fetched since it changed: ${behind.map((row) => `${row.name} (last ${shortTime(row.last_seen)})`).join(', ')}.`;
}

function modeNote(report: DomainFetchReport): string {
  const deleteAfter =
    report.delete_after === null ? '' : `; delete its records after ${formatMoment(Date.parse(report.delete_after))}`;
  return `${report.retired ? 'removed from the config, retiring: mode none' : `mode ${report.mode}`}${deleteAfter}`;
}

function renderDomain(report: DomainFetchReport, classifier: ProviderClassifier): string {
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
        row.current_id_fetches === null
          ? '-'
          : `${row.current_id_fetches} (${sharePercent(row.current_id_fetches, row.fetches)})`,
      ]),
    ),
    '  ',
  );
  const lines = [heading, table.trimEnd()];
  if (report.current_id_fetches !== null) {
    lines.push(
      `  ${report.current_id_fetches} of ${report.fetches} fetches (${sharePercent(report.current_id_fetches, report.fetches)}) got the current policy id; ` +
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
