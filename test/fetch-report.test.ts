import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchReports, sharePercent, withDomainEnds } from '../src/fetches/fetch-report.js';
import { ProviderClassifier } from '../src/fetches/providers.js';
import type { ProviderFetchStatistics } from '../src/storage/fetch-statistics-store.js';

// The numbers of `stats --json` and the dashboard, from statistics rows: which providers have the
// policy served now, in which order, and when a retiring domain's records may go.

const CLASSIFIER = ProviderClassifier.fromData(
  {
    providers: {
      google: { name: 'Google', user_agents: ['^Google-SMTP-STS'], ranges: [] },
      microsoft: { name: 'Microsoft', user_agents: [], ranges: ['104.47.0.0/17'] },
      yahoo: { name: 'Yahoo', user_agents: ['^AHC/'], ranges: [] },
    },
  },
  'providers.yaml',
);

function row(
  domain: string,
  provider: string,
  fetchesByPolicyId: Record<string, number>,
  lastPolicyId: string,
): ProviderFetchStatistics {
  return {
    domain,
    provider,
    fetches: Object.values(fetchesByPolicyId).reduce((sum, count) => sum + count, 0),
    claimed: 0,
    addresses: 1,
    addressesCapped: false,
    firstSeen: '2026-11-30T10:00:00.000Z',
    lastSeen: '2026-12-01T10:00:00.000Z',
    lastPolicyId,
    fetchesByPolicyId,
  };
}

const SERVED = [
  { domain: 'example.org', id: 'new', policy: { mode: 'enforce' } },
  { domain: 'example.com', id: 'now', policy: { mode: 'testing' } },
];

test('served domains in config order, then removed ones with statistics, sorted; a removed domain has no current id', () => {
  const reports = fetchReports(
    SERVED,
    [
      row('zz.example', 'google', { old: 1 }, 'old'),
      row('aa.example', 'google', { old: 2 }, 'old'),
      row('example.com', 'google', { now: 1 }, 'now'),
    ],
    CLASSIFIER,
  );
  assert.deepEqual(
    reports.map((report) => [
      report.domain,
      report.mode,
      report.current_policy_id,
      report.fetches,
      report.current_id_fetches,
      report.current_id_share,
    ]),
    [
      ['example.org', 'enforce', 'new', 0, 0, null],
      ['example.com', 'testing', 'now', 1, 1, 1],
      ['aa.example', null, null, 2, null, null],
      ['zz.example', null, null, 1, null, null],
    ],
  );
  assert.equal(reports[2]!.providers[0]!.has_current_policy, null);
  assert.equal(reports[2]!.providers[0]!.current_id_fetches, null);
});

test('per provider: whether its last fetch got the id served now, its fetches of that id; most fetches first, ties by id', () => {
  const [report] = fetchReports(
    [SERVED[1]!],
    [
      row('example.com', 'yahoo', { now: 1, old: 2 }, 'old'),
      row('example.com', 'google', { old: 1, now: 2 }, 'now'),
      row('example.com', 'microsoft', { old: 1 }, 'old'),
      row('example.com', 'unknown', { now: 5 }, 'now'),
    ],
    CLASSIFIER,
  );
  assert.deepEqual(
    report!.providers.map((entry) => [
      entry.provider,
      entry.name,
      entry.fetches,
      entry.has_current_policy,
      entry.current_id_fetches,
    ]),
    [
      ['unknown', 'Unknown', 5, true, 5],
      ['google', 'Google', 3, true, 2],
      ['yahoo', 'Yahoo', 3, false, 1],
      ['microsoft', 'Microsoft', 1, false, 0],
    ],
  );
  assert.equal(report!.fetches, 12);
  assert.equal(report!.current_id_fetches, 8);
  assert.equal(report!.current_id_share, 8 / 12);
  assert.deepEqual(report!.not_seen, []);
  const [quiet] = fetchReports([SERVED[1]!], [row('example.com', 'microsoft', { now: 1 }, 'now')], CLASSIFIER);
  assert.deepEqual(quiet!.not_seen, ['google', 'yahoo']);
});

test('shares in whole percent, rounded down', () => {
  assert.deepEqual(
    [sharePercent(2, 3), sharePercent(1, 3), sharePercent(3, 3), sharePercent(0, 7)],
    ['66%', '33%', '100%', '0%'],
  );
});

test('delete_after for retired domains and those in mode none, from when their last policy leaves the caches', () => {
  const reports = fetchReports(
    [
      { domain: 'gone.example', id: 'a', policy: { mode: 'none' } },
      { domain: 'none.example', id: 'b', policy: { mode: 'none' } },
      { domain: 'live.example', id: 'c', policy: { mode: 'enforce' } },
      { domain: 'never.example', id: 'd', policy: { mode: 'none' } },
    ],
    [],
    CLASSIFIER,
  );
  const until = Date.parse('2026-12-20T00:00:00Z');
  const ended = withDomainEnds(reports, {
    retirements: [{ domain: 'gone.example', until }],
    // Every domain has a date here: only the ending ones may show it.
    cachedUntil: (domain) => (domain === 'never.example' ? undefined : until),
  });
  assert.deepEqual(
    ended.map((report) => [report.domain, report.retired, report.delete_after]),
    [
      ['gone.example', true, '2026-12-20T00:00:00.000Z'],
      ['none.example', false, '2026-12-20T00:00:00.000Z'],
      ['live.example', false, null],
      ['never.example', false, null],
    ],
  );
});
