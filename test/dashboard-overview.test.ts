import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Overview, OverviewRow } from '../src/dashboard/dashboard-data.js';
import { overviewPage, overviewRows, ROWS_PER_PAGE } from '../src/dashboard/overview-page.js';

// The overview's sorting, filtering and pages, done by the service so that a page of a few
// thousand domains stays quick to draw; what the browser sees of them is in test/e2e/dashboard-browser.

function row(domain: string, overrides: Partial<OverviewRow> = {}): OverviewRow {
  return {
    domain,
    mode: 'enforce',
    policy_id: '20261201T000000',
    sts_txt_matches: true,
    certificate_days_left: 60,
    health: 'ok',
    fetches: 0,
    providers_current: 0,
    providers_seen: 0,
    tls_successful_sessions: 0,
    tls_failed_sessions: 0,
    enforce_readiness: null,
    retired: false,
    delete_after: null,
    ...overrides,
  };
}

/** 250 domains d000.example … d249.example; every tenth in testing, fetches counting down. */
const MANY = Array.from({ length: 250 }, (_, index) =>
  row(`d${String(index).padStart(3, '0')}.example`, {
    mode: index % 10 === 0 ? 'testing' : 'enforce',
    fetches: 1_000 - index,
  }),
);

const domains = (rows: readonly OverviewRow[]) => rows.map((entry) => entry.domain);

function overview(rows: OverviewRow[]): Overview {
  return {
    generated_at: '2026-12-02T12:00:00.000Z',
    fetch_period: { since: '2026-11-26', until: '2026-12-02' },
    report_period: { since: '2026-11-19', until: '2026-12-02' },
    statistics_problem: null,
    reports_problem: null,
    domains: rows,
  };
}

test('pages of 100 rows; a page past the last shows the last', () => {
  const first = overviewRows(MANY, {});
  assert.equal(ROWS_PER_PAGE, 100);
  assert.deepEqual([first.matching, first.page, first.pages, first.first], [250, 1, 3, 0]);
  assert.deepEqual(domains(first.shown).slice(0, 2), ['d000.example', 'd001.example']);
  assert.equal(first.shown.length, 100);
  const third = overviewRows(MANY, { page: 3 });
  assert.deepEqual([third.page, third.first, third.shown.length], [3, 200, 50]);
  assert.equal(third.shown[0]!.domain, 'd200.example');
  assert.equal(overviewRows(MANY, { page: 9 }).page, 3);
  assert.deepEqual(overviewRows([], {}), { matching: 0, page: 1, pages: 1, first: 0, shown: [] });
});

test('sorting: numbers as numbers, text as text, no data last in both orders, ties by domain', () => {
  const rows = [
    row('b.example', { fetches: 10 }),
    row('a.example', { fetches: 9 }),
    row('c.example', { fetches: 100 }),
    row('d.example', { fetches: 10 }),
    row('n.example', { fetches: null, health: null }),
  ];
  assert.deepEqual(domains(overviewRows(rows, { sort: 'fetches' }).shown), [
    'n.example',
    'a.example',
    'b.example',
    'd.example',
    'c.example',
  ]);
  assert.deepEqual(domains(overviewRows(rows, { sort: 'fetches', order: 'desc' }).shown), [
    'c.example',
    'b.example',
    'd.example',
    'a.example',
    'n.example',
  ]);
  // Health: ok < warn < fail; not checked last either way.
  rows[0]!.health = 'fail';
  rows[2]!.health = 'warn';
  assert.deepEqual(domains(overviewRows(rows, { sort: 'health', order: 'desc' }).shown), [
    'b.example',
    'c.example',
    'a.example',
    'd.example',
    'n.example',
  ]);
  assert.deepEqual(domains(overviewRows(rows, { sort: 'health' }).shown).at(-1), 'n.example');
  assert.deepEqual(domains(overviewRows([row('x10.example'), row('x9.example')], { sort: 'domain' }).shown), [
    'x9.example',
    'x10.example',
  ]);
  // The sort is over every matching domain, before the page is cut.
  assert.deepEqual(domains(overviewRows(MANY, { sort: 'fetches', page: 3 }).shown).slice(0, 1), ['d049.example']);
});

test('the filter matches domain, mode (retiring included) and health, in any case', () => {
  assert.equal(overviewRows(MANY, { q: 'TESTING ' }).matching, 25);
  assert.deepEqual(
    domains(overviewRows(MANY, { q: 'd12' }).shown),
    Array.from({ length: 10 }, (_, i) => `d12${i}.example`),
  );
  const retiring = [row('old.example', { mode: 'none', retired: true }), row('new.example', { health: 'warn' })];
  assert.deepEqual(domains(overviewRows(retiring, { q: 'retiring' }).shown), ['old.example']);
  assert.deepEqual(domains(overviewRows(retiring, { q: 'warn' }).shown), ['new.example']);
  assert.equal(overviewRows(retiring, { q: 'nothing' }).matching, 0);
});

test('the page: rows of its slice, header links that sort and turn the order, page links that keep the query', () => {
  const page = overviewPage(overview(MANY), { q: 'enforce', sort: 'fetches', order: 'asc', page: 2 });
  assert.match(page, /<span id="shown-count" aria-live="polite">225 of 250 match; 101–200 shown<\/span>/);
  assert.equal(page.match(/<tr><td>/g)!.length, 100);
  assert.match(
    page,
    /<th scope="col" aria-sort="ascending"><a href="\/\?q=enforce&amp;sort=fetches&amp;order=desc">Fetches<\/a><\/th>/,
  );
  assert.match(page, /<th scope="col" aria-sort="none"><a href="\/\?q=enforce&amp;sort=domain&amp;order=asc">Domain<\/a><\/th>/);
  assert.match(page, /<a href="\/\?q=enforce&amp;sort=fetches&amp;order=asc&amp;page=3" rel="next">Next<\/a>/);
  assert.match(page, /<a href="\/\?q=enforce&amp;sort=fetches&amp;order=asc" rel="first">First<\/a>/);
  assert.match(page, /<span>page 2 of 3<\/span>/);
  assert.match(page, /<input id="filter" name="q" type="search" [^>]*value="enforce">/);
  assert.match(page, /<input type="hidden" name="sort" value="fetches">/);

  const one = overviewPage(overview(MANY.slice(0, 3)));
  assert.match(one, />3 domains</);
  assert.match(overviewPage(overview(MANY)), />250 domains; 1–100 shown</);
  assert.doesNotMatch(one, /class="pages"/);
  assert.match(overviewPage(overview(MANY), { q: 'zzz' }), /no domain of 250 matches/);
  // The filter text goes back into the page as text.
  assert.match(overviewPage(overview(MANY), { q: '"><script>' }), /value="&quot;&gt;&lt;script&gt;"/);
});
