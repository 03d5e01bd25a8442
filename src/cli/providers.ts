import { ConfigError } from '../config/start-error.js';
import { loadProviders } from '../fetches/fetches-from-config.js';
import { refreshDns } from '../fetches/provider-refresher.js';
import {
  REFRESHED_RANGES_KEY,
  readRefreshFile,
  refreshProviders,
  storeRefreshFile,
  type ProviderRefreshResult,
} from '../fetches/provider-refresh.js';
import { parseServerAddress } from '../net/server-address.js';
import { printable } from '../text/printable.js';
import { openBackends } from '../storage/backends.js';
import { loadConfigOrReport } from './load-config.js';
import { formatTable } from './table.js';

export interface ProvidersOptions {
  json: boolean;
  /** IP[:PORT] of the DNS server to ask instead of providers.resolver. */
  resolver?: string;
  /** Tests: the clock, and a provider list standing in for the shipped one. */
  now?: Date;
  shipped?: string;
}

/** Added or removed ranges listed one by one, per provider; beyond this only their number. */
const LIST_UP_TO = 10;

/**
 * `mta-sts-server providers refresh`: each provider's SPF records read now and expanded into
 * ranges, stored in state_dir for the service (which applies them at its next refresh or start),
 * and compared with the previous refresh. Exit 1 when a provider's records could not be expanded.
 */
export async function refreshProvidersCommand(
  path: string,
  options: ProvidersOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const resolverProblem =
    options.resolver !== undefined && parseServerAddress(options.resolver) === undefined
      ? [`--resolver ${printable(options.resolver, 80)} is not a DNS server address; write IP or IP:PORT ([IPv6]:PORT)`]
      : [];
  const loaded = await loadConfigOrReport(path, err, resolverProblem);
  if (!loaded) return 2;
  const { config } = loaded;
  let sources;
  try {
    sources = (await loadProviders(config, options.shipped)).spfSources;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.problems) err.write(`${line}\n`);
    return 2;
  }
  const { storage } = openBackends(config);
  const previous = await readRefreshFile(storage);
  if (previous.problem !== undefined) err.write(`note: ${previous.problem}; starting afresh\n`);
  const now = options.now ?? new Date();
  const outcome = await refreshProviders(sources, refreshDns(config.providerRefresh, options.resolver), previous.file, now);
  const where = `${config.stateDir}/${REFRESHED_RANGES_KEY}`;
  try {
    await storeRefreshFile(storage, outcome.file);
  } catch (error) {
    err.write(`cannot store the refreshed ranges in ${where}: ${(error as Error).message}\n`);
    return 1;
  }
  const failed = outcome.results.filter((result) => !result.ok).length;
  if (options.json) {
    out.write(
      `${JSON.stringify({ refreshed_at: now.toISOString(), file: where, providers: outcome.results.map(jsonOf) }, null, 2)}\n`,
    );
  } else {
    out.write(`Provider ranges from SPF records, ${utcMinute(now)}; stored in ${where}\n\n`);
    out.write(render(outcome.results));
    if (sources.length === 0) out.write('No provider names an SPF record (spf: in the provider list).\n');
  }
  return failed > 0 ? 1 : 0;
}

function jsonOf(result: ProviderRefreshResult) {
  return {
    provider: result.id,
    records: result.records,
    ok: result.ok,
    problem: result.problem ?? null,
    refreshed_at: result.current?.refreshed_at ?? null,
    ranges: result.current?.ranges ?? [],
    added: result.added,
    removed: result.removed,
    notes: result.notes,
  };
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
const utcMinute = (date: Date) => `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** One row per provider, then the ranges that came and went, notes and problems under it. */
function render(results: readonly ProviderRefreshResult[]): string {
  const rows = [['PROVIDER', 'RANGES', 'CHANGE', 'SPF RECORDS']];
  const details: string[] = [];
  for (const result of results) {
    const ranges = result.current?.ranges.length ?? 0;
    rows.push([result.id, result.ok ? String(ranges) : `${ranges} (kept)`, change(result), result.records.join(' ')]);
    const lines = [
      ...(result.problem === undefined
        ? []
        : [
            `failed: ${result.problem}; ${
              result.current
                ? `kept ${plural(ranges, 'range')} of ${utcMinute(new Date(result.current.refreshed_at))}`
                : 'the written ranges apply'
            }`,
          ]),
      // A first refresh would list every range: its count says enough.
      ...(result.first ? [] : [...listed('+', result.added), ...listed('-', result.removed)]),
      ...result.notes.map((note) => `note: ${note}`),
    ];
    if (lines.length > 0) details.push(`${result.id}:\n${lines.map((line) => `  ${line}\n`).join('')}`);
  }
  return `${formatTable(rows)}${details.length > 0 ? `\n${details.join('')}` : ''}`;
}

function change(result: ProviderRefreshResult): string {
  if (!result.ok) return 'failed';
  if (result.first) return 'first refresh';
  const changes = [
    ...(result.added.length > 0 ? [`+${plural(result.added.length, 'range')}`] : []),
    ...(result.removed.length > 0 ? [`-${plural(result.removed.length, 'range')}`] : []),
  ];
  return changes.length > 0 ? changes.join(', ') : 'unchanged';
}

function listed(sign: '+' | '-', ranges: ProviderRefreshResult['added']): string[] {
  const lines = ranges.slice(0, LIST_UP_TO).map(({ range, record }) => `${sign} ${range} (${record})`);
  if (ranges.length > LIST_UP_TO) lines.push(`${sign} ... and ${ranges.length - LIST_UP_TO} more`);
  return lines;
}
