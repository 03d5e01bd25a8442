import { sharePercent } from '../fetches/fetch-report.js';
import { CHECK_STATUSES, expiryStatus } from '../health/check-result.js';
import type { Overview, OverviewRow } from './dashboard-data.js';
import { markup, type Html } from './markup.js';
import { domainPath, layout, scrolling, statusLabel } from './page-parts.js';

/**
 * The overview page: one row per served domain, sorted, filtered and cut into pages by the
 * service, so that a page stays quick to draw and read with thousands of domains (a browser
 * lays out a table of 1 000 rows in about a second) and works without its script.
 */

/** Rows per page: enough to scan, few enough that the browser draws the page at once. */
export const ROWS_PER_PAGE = 100;

/** What a column sorts by: numbers as numbers, text as text; null (no data) sorts last either way. */
type SortValue = string | number | null;

interface Column {
  key: string;
  title: string;
  sortValue: (row: OverviewRow) => SortValue;
  cell: (row: OverviewRow) => Html | string | number;
}

const modeOf = (row: OverviewRow) => (row.retired ? 'none (retiring)' : row.mode);

const COLUMNS: readonly Column[] = [
  {
    key: 'domain',
    title: 'Domain',
    sortValue: (row) => row.domain,
    cell: (row) => markup`<a href="${domainPath(row.domain)}">${row.domain}</a>`,
  },
  { key: 'mode', title: 'Mode', sortValue: modeOf, cell: modeOf },
  { key: 'policy_id', title: 'Policy id', sortValue: (row) => row.policy_id, cell: (row) => row.policy_id },
  {
    key: 'txt',
    title: 'TXT record',
    sortValue: (row) => (row.sts_txt_matches === null ? null : Number(!row.sts_txt_matches)),
    cell: (row) => {
      if (row.sts_txt_matches === null) return statusLabel('none', 'not checked');
      return row.sts_txt_matches ? statusLabel('ok', 'matches') : statusLabel('fail', 'differs');
    },
  },
  {
    key: 'certificate',
    title: 'Certificate',
    sortValue: (row) => row.certificate_days_left ?? -1,
    cell: (row) => {
      const days = row.certificate_days_left;
      // The thresholds of the `policy_certificate` check.
      return days === null ? statusLabel('fail', 'none') : statusLabel(expiryStatus(days), `${days} days left`);
    },
  },
  {
    key: 'health',
    title: 'Health',
    sortValue: (row) => (row.health === null ? null : CHECK_STATUSES.indexOf(row.health)),
    cell: (row) => (row.health === null ? statusLabel('none', 'not checked') : statusLabel(row.health, row.health)),
  },
  { key: 'fetches', title: 'Fetches', sortValue: (row) => row.fetches ?? -1, cell: (row) => row.fetches ?? '–' },
  {
    key: 'providers',
    title: 'Providers on current id',
    sortValue: (row) =>
      row.providers_seen === null ? null : row.providers_seen === 0 ? -1 : row.providers_current! / row.providers_seen,
    cell: (row) => {
      if (row.providers_seen === null) return '–';
      if (row.providers_seen === 0) return 'none identified';
      return `${row.providers_current} of ${row.providers_seen} (${sharePercent(row.providers_current!, row.providers_seen)})`;
    },
  },
  {
    key: 'tls',
    title: 'TLS sessions ok / failed',
    sortValue: (row) => row.tls_failed_sessions,
    cell: (row) => {
      if (row.tls_successful_sessions === null) return '–';
      const failed = row.tls_failed_sessions!;
      const text = `${row.tls_successful_sessions} / ${failed}`;
      return failed > 0 ? statusLabel('warn', text) : text;
    },
  },
  {
    key: 'readiness',
    title: 'Enforce readiness',
    sortValue: (row) =>
      row.enforce_readiness ? (row.enforce_readiness.ready ? 0 : row.enforce_readiness.blockers.length) : null,
    cell: (row) => {
      const readiness = row.enforce_readiness;
      if (!readiness) return '–';
      if (readiness.ready) return statusLabel('ok', 'ready');
      return statusLabel('warn', `not ready: ${readiness.blockers.length} to fix`);
    },
  },
  {
    key: 'delete_after',
    title: 'Delete records after',
    sortValue: (row) => row.delete_after,
    cell: (row) => (row.delete_after ? row.delete_after.slice(0, 10) : '–'),
  },
];

/** The `sort` values the page takes, for its query schema. */
export const SORT_KEYS = COLUMNS.map((column) => column.key);

/** What the page's address asks for: `?q=&sort=&order=&page=`. */
export interface OverviewQuery {
  q?: string;
  sort?: string;
  order?: 'asc' | 'desc';
  page?: number;
}

const collator = new Intl.Collator('en', { numeric: true });

function compare(a: SortValue, b: SortValue): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

/** The rows the page shows: those the filter matches, sorted (ties by domain), and the page's slice of them. */
export function overviewRows(rows: readonly OverviewRow[], query: OverviewQuery) {
  const wanted = (query.q ?? '').trim().toLowerCase();
  const matching = rows.filter((row) => `${row.domain} ${modeOf(row)} ${row.health ?? ''}`.toLowerCase().includes(wanted));
  const column = COLUMNS.find((candidate) => candidate.key === query.sort);
  const ordered = column ? sortedBy(matching, column, query.order === 'desc' ? -1 : 1) : matching;
  const pages = Math.max(1, Math.ceil(ordered.length / ROWS_PER_PAGE));
  const page = Math.min(query.page ?? 1, pages);
  const first = (page - 1) * ROWS_PER_PAGE;
  return { matching: ordered.length, page, pages, first, shown: ordered.slice(first, first + ROWS_PER_PAGE) };
}

/** Each row's value read once; no data last in either direction, ties by domain. */
function sortedBy(rows: readonly OverviewRow[], column: Column, direction: 1 | -1): OverviewRow[] {
  const keyed = rows.map((row) => ({ row, value: column.sortValue(row) }));
  keyed.sort((a, b) => {
    if (a.value === null || b.value === null) return a.value === b.value ? 0 : a.value === null ? 1 : -1;
    return compare(a.value, b.value) * direction || collator.compare(a.row.domain, b.row.domain);
  });
  return keyed.map(({ row }) => row);
}

/** The page's own address with some of its query changed; empty values are left out. */
function addressWith(query: OverviewQuery, change: OverviewQuery): string {
  const merged = { ...query, ...change };
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(merged)) {
    if (value !== undefined && value !== '' && !(name === 'page' && value === 1)) params.set(name, String(value));
  }
  const text = params.toString();
  return text === '' ? '/' : `/?${text}`;
}

function headerOf(column: Column, query: OverviewQuery): Html {
  const current = query.sort === column.key;
  const ascending = current && query.order !== 'desc';
  const ariaSort = current ? (ascending ? 'ascending' : 'descending') : 'none';
  // A second press on the sorted column turns the order; any sort starts again at the first page.
  const href = addressWith(query, { sort: column.key, order: ascending ? 'desc' : 'asc', page: 1 });
  return markup`<th scope="col" aria-sort="${ariaSort}"><a href="${href}">${column.title}</a></th>`;
}

function rowOf(row: OverviewRow): Html {
  return markup`<tr>${COLUMNS.map((column) => markup`<td>${column.cell(row)}</td>`)}</tr>\n`;
}

function pageLinks(query: OverviewQuery, page: number, pages: number): Html | '' {
  if (pages === 1) return '';
  const link = (target: number, label: string, rel: string) =>
    target === page || target < 1 || target > pages
      ? markup`<span aria-disabled="true">${label}</span>`
      : markup`<a href="${addressWith(query, { page: target })}" rel="${rel}">${label}</a>`;
  return markup`<nav class="pages" aria-label="Pages">${link(1, 'First', 'first')} ${link(page - 1, 'Previous', 'prev')} <span>page ${page} of ${pages}</span> ${link(page + 1, 'Next', 'next')} ${link(pages, 'Last', 'last')}</nav>`;
}

const count = (n: number) => n.toLocaleString('en-GB').replace(/,/g, ' ');

export function overviewPage(data: Overview, query: OverviewQuery = {}): string {
  const { matching, page, pages, first, shown } = overviewRows(data.domains, query);
  const problems = [data.statistics_problem, data.reports_problem].filter((problem): problem is string => problem !== null);
  const total = count(data.domains.length);
  const summary =
    matching === 0
      ? `no domain of ${total} matches`
      : (matching === data.domains.length ? `${total} domains` : `${count(matching)} of ${total} match`) +
        (pages > 1 ? `; ${count(first + 1)}–${count(first + shown.length)} shown` : '');
  const table = markup`<table id="overview">
<caption>Fetches ${data.fetch_period.since} to ${data.fetch_period.until}; TLS reports ${data.report_period.since} to ${data.report_period.until} (UTC days)</caption>
<thead><tr>${COLUMNS.map((column) => headerOf(column, query))}</tr></thead>
<tbody>
${shown.map(rowOf)}</tbody>
</table>`;
  return layout(
    'Overview',
    'overview',
    markup`<h1>Domains</h1>
${problems.map((problem) => markup`<p class="problem">${statusLabel('warn', 'not shown')} ${problem}</p>`)}
<form class="controls" method="get" action="/" role="search">
<label for="filter">Filter</label>
<input id="filter" name="q" type="search" autocomplete="off" placeholder="domain, mode or health" maxlength="253" value="${query.q ?? ''}">
${query.sort !== undefined && markup`<input type="hidden" name="sort" value="${query.sort}">`}
${query.order !== undefined && markup`<input type="hidden" name="order" value="${query.order}">`}
<button type="submit">Filter</button>
<span id="shown-count" aria-live="polite">${summary}</span>
</form>
${scrolling('Domains', table)}
${pageLinks(query, page, pages)}`,
  );
}
