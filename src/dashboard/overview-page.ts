import { sharePercent } from '../fetches/fetch-report.js';
import { CHECK_STATUSES, expiryStatus } from '../health/check-result.js';
import type { Overview, OverviewRow } from './dashboard-data.js';
import { markup, type Html } from './markup.js';
import { domainPath, layout, scrolling, statusLabel } from './page-parts.js';

/** A cell with the value the table sorts by when it is not the cell's text (the script compares numbers as numbers). */
const cell = (sortBy: string | number, content: Html | string | number) =>
  sortBy === content ? markup`<td>${content}</td>` : markup`<td data-sort-value="${sortBy}">${content}</td>`;

const COLUMNS = [
  'Domain',
  'Mode',
  'Policy id',
  'TXT record',
  'Certificate',
  'Health',
  'Fetches',
  'Providers on current id',
  'TLS sessions ok / failed',
  'Enforce readiness',
  'Delete records after',
];

function txtCell(row: OverviewRow): Html {
  if (row.sts_txt_matches === null) return cell('', statusLabel('none', 'not checked'));
  return row.sts_txt_matches ? cell(0, statusLabel('ok', 'matches')) : cell(1, statusLabel('fail', 'differs'));
}

function certificateCell(row: OverviewRow): Html {
  const days = row.certificate_days_left;
  if (days === null) return cell(-1, statusLabel('fail', 'none'));
  // The thresholds of the `policy_certificate` check.
  return cell(days, statusLabel(expiryStatus(days), `${days} days left`));
}

function healthCell(row: OverviewRow): Html {
  if (row.health === null) return cell('', statusLabel('none', 'not checked'));
  return cell(CHECK_STATUSES.indexOf(row.health), statusLabel(row.health, row.health));
}

function providersCell(row: OverviewRow): Html {
  if (row.providers_seen === null) return cell('', '–');
  if (row.providers_seen === 0) return cell(-1, 'none identified');
  const text = `${row.providers_current} of ${row.providers_seen} (${sharePercent(row.providers_current!, row.providers_seen)})`;
  return cell(row.providers_current! / row.providers_seen, text);
}

function tlsCell(row: OverviewRow): Html {
  if (row.tls_successful_sessions === null) return cell('', '–');
  const failed = row.tls_failed_sessions!;
  const text = `${row.tls_successful_sessions} / ${failed}`;
  return cell(failed, failed > 0 ? statusLabel('warn', text) : text);
}

function readinessCell(row: OverviewRow): Html {
  const readiness = row.enforce_readiness;
  if (!readiness) return cell('', '–');
  if (readiness.ready) return cell(0, statusLabel('ok', 'ready'));
  return cell(readiness.blockers.length, statusLabel('warn', `not ready: ${readiness.blockers.length} to fix`));
}

/** A row without whitespace between its cells: with thousands of domains, every text node adds to the page's layout. */
function rowOf(row: OverviewRow): Html {
  const mode = row.retired ? 'none (retiring)' : row.mode;
  const cells = [
    cell(row.domain, markup`<a href="${domainPath(row.domain)}">${row.domain}</a>`),
    cell(mode, mode),
    markup`<td class="policy-id">${row.policy_id}</td>`,
    txtCell(row),
    certificateCell(row),
    healthCell(row),
    cell(row.fetches ?? -1, row.fetches ?? '–'),
    providersCell(row),
    tlsCell(row),
    readinessCell(row),
    cell(row.delete_after ?? '', row.delete_after ? row.delete_after.slice(0, 10) : '–'),
  ];
  return markup`<tr data-filter-text="${`${row.domain} ${mode} ${row.health ?? ''}`.toLowerCase()}">${cells}</tr>\n`;
}

/** The overview: one row per served domain, sortable and filterable by the page's script (and usable without it). */
export function overviewPage(data: Overview): string {
  const problems = [data.statistics_problem, data.reports_problem].filter((problem): problem is string => problem !== null);
  const table = markup`<table id="overview" class="sortable">
<caption>Fetches ${data.fetch_period.since} to ${data.fetch_period.until}; TLS reports ${data.report_period.since} to ${data.report_period.until} (UTC days)</caption>
<thead><tr>${COLUMNS.map(
    (name, index) =>
      markup`<th scope="col" aria-sort="none"><button type="button" data-sort-column="${index}">${name}</button></th>`,
  )}</tr></thead>
<tbody>
${data.domains.map(rowOf)}</tbody>
</table>`;
  return layout(
    'Overview',
    'overview',
    markup`<h1>Domains</h1>
${problems.map((problem) => markup`<p class="problem">${statusLabel('warn', 'not shown')} ${problem}</p>`)}
<div class="controls">
<label for="filter">Filter</label>
<input id="filter" type="search" autocomplete="off" placeholder="domain, mode or health" aria-controls="overview">
<span id="shown-count" aria-live="polite">${data.domains.length} domains</span>
</div>
${scrolling('Domains', table)}`,
  );
}
