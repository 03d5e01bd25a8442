import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DomainDetail, Overview } from '../src/dashboard/dashboard-data.js';
import { cliInProcess } from './support/cli.js';
import { bearer, DEMO_DOMAINS, RETIRING_DOMAIN, startDashboardDemo, type DashboardDemo } from './support/dashboard-state.js';

// The dashboard's API and the command line over the same seeded state directory: the same numbers,
// because both call the same functions (src/fetches/fetch-report.ts, src/reports/report-summary.ts,
// src/health/*). The service runs for real, its self-check against the tests' DNS and SMTP servers.

const TOKEN = 'dashboard-cli-token-0123456789';
let demo: DashboardDemo;

before(async () => {
  demo = await startDashboardDemo({ token: TOKEN });
});
after(() => demo.stop());

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${demo.adminPort}${path}`, { headers: bearer(TOKEN) });
  assert.equal(response.status, 200, path);
  return (await response.json()) as T;
}

async function cliJson<T>(args: string[]): Promise<T> {
  const result = await cliInProcess([...args, '--json', '--config', demo.configPath]);
  assert.ok(
    result.code === 0 || (args[0] === 'check' && result.code === 1),
    `${args.join(' ')}: ${result.code} ${result.stderr}`,
  );
  return JSON.parse(result.stdout) as T;
}

/**
 * Reads the dashboard and the command line again until they agree on the fetch counts: the
 * service's self-check fetches its own policy every 2 s, and such a fetch, counted a second
 * later, may land between two reads. A real disagreement stays, and the test's assertions show it.
 */
async function readTogether<T>(read: () => Promise<T>, agree: (reads: T) => boolean): Promise<T> {
  let reads = await read();
  for (let attempt = 1; attempt < 5 && !agree(reads); attempt++) reads = await read();
  return reads;
}

interface StatsJson {
  since: string;
  until: string;
  domains: {
    domain: string;
    fetches: number;
    retired: boolean;
    delete_after: string | null;
    providers: { provider: string; has_current_policy: boolean }[];
  }[];
}
interface ReportsJson {
  since: string;
  domains: { domain: string; successful_sessions: number; failed_sessions: number }[];
}
interface CheckJson {
  domains: { domain: string; status: string; checks: { id: string; status: string }[]; enforce_readiness: unknown }[];
}

test('the overview: fetches and providers as `stats` counts them, TLS sessions as `reports --since 14d` sums them, health as `check` finds it', async () => {
  const { overview, stats } = await readTogether(
    async () => ({ overview: await api<Overview>('/api/domains'), stats: await cliJson<StatsJson>(['stats']) }),
    ({ overview, stats }) =>
      overview.domains.every((row) => row.fetches === stats.domains.find((domain) => domain.domain === row.domain)?.fetches),
  );
  const reports = await cliJson<ReportsJson>(['reports', '--since', '14d']);
  const checks = await cliJson<CheckJson>(['check', ...demo.checkArgs]);
  assert.deepEqual(overview.fetch_period, { since: stats.since, until: stats.until });
  assert.equal(overview.report_period.since, reports.since);
  assert.deepEqual(
    overview.domains.map((row) => row.domain),
    [...DEMO_DOMAINS, RETIRING_DOMAIN],
  );
  for (const row of overview.domains) {
    const counted = stats.domains.find((domain) => domain.domain === row.domain)!;
    const identified = counted.providers.filter((provider) => provider.provider !== 'unknown');
    assert.equal(row.fetches, counted.fetches, row.domain);
    assert.equal(row.providers_seen, identified.length, row.domain);
    assert.equal(row.providers_current, identified.filter((provider) => provider.has_current_policy).length, row.domain);
    assert.equal(row.retired, counted.retired, row.domain);
    assert.equal(row.delete_after, counted.delete_after, row.domain);
    const summed = reports.domains.find((domain) => domain.domain === row.domain);
    assert.equal(row.tls_successful_sessions, summed?.successful_sessions ?? 0, row.domain);
    assert.equal(row.tls_failed_sessions, summed?.failed_sessions ?? 0, row.domain);
    const checked = checks.domains.find((domain) => domain.domain === row.domain)!;
    assert.equal(row.health, checked.status, row.domain);
    assert.equal(row.sts_txt_matches, checked.checks.find((check) => check.id === 'sts_txt_id')!.status === 'ok', row.domain);
    assert.deepEqual(row.enforce_readiness, checked.enforce_readiness, row.domain);
  }
  // The seeded state is not trivial: fetches, a failure in the reports, a stale TXT id, a retiring domain.
  const byName = new Map(overview.domains.map((row) => [row.domain, row]));
  assert.ok(byName.get('example.com')!.fetches! > 10);
  assert.ok(byName.get('example.com')!.tls_failed_sessions! > 0);
  assert.equal(byName.get('example.org')!.sts_txt_matches, false);
  assert.equal(byName.get(RETIRING_DOMAIN)!.retired, true);
  assert.equal(byName.get('example.com')!.enforce_readiness!.ready, false);
});

test('a domain page: `stats --domain`, `reports --domain` (30 days), `check --domain` and `certs` to the field; daily bars add up to `stats --since 30d`', async () => {
  const barTotalOf = (detail: DomainDetail) =>
    detail.fetch_days.reduce((sum, day) => sum + Object.values(day.providers).reduce((a, b) => a + b, 0), 0);
  const { detail, stats, month } = await readTogether(
    async () => ({
      detail: await api<DomainDetail>('/api/domains/example.com'),
      stats: await cliJson<StatsJson>(['stats', '--domain', 'example.com']),
      month: await cliJson<StatsJson>(['stats', '--domain', 'example.com', '--since', '30d']),
    }),
    ({ detail, stats, month }) =>
      detail.fetches?.fetches === stats.domains[0]?.fetches && barTotalOf(detail) === month.domains[0]?.fetches,
  );
  assert.deepEqual(detail.fetches, stats.domains[0]);
  const reports = await cliJson<{ domains: unknown[] }>(['reports', '--domain', 'example.com']);
  assert.deepEqual(detail.reports, reports.domains[0]);
  const barTotal = barTotalOf(detail);
  assert.equal(barTotal, month.domains[0]!.fetches);
  assert.equal(detail.fetch_days.length, 30);
  const checks = await cliJson<CheckJson>(['check', '--domain', 'example.com', ...demo.checkArgs]);
  assert.deepEqual(
    detail.health!.checks.map((check) => [check.id, check.status]),
    checks.domains[0]!.checks.map((check) => [check.id, check.status]),
  );
  assert.deepEqual(detail.enforce_readiness, checks.domains[0]!.enforce_readiness);
  const certs = await cliJson<{ certificates: { host: string }[] }>(['certs']);
  assert.deepEqual(
    detail.certificate,
    certs.certificates.find((row) => row.host === 'mta-sts.example.com'),
  );
  assert.match(detail.certificate.issuer!, /mta-sts-server test CA/);
  assert.match(
    detail.dns_records.join('\n'),
    new RegExp(`_mta-sts\\.example\\.com\\. +3600 IN TXT +"v=STSv1; id=${demo.ids.get('example.com')}"`),
  );
});

test('the retiring domain: its history and when its records can go, as `dns` says', async () => {
  const detail = await api<DomainDetail>(`/api/domains/${RETIRING_DOMAIN}`);
  const dns = await cliJson<{ domains: { domain: string; delete_after: string | null; retired: boolean }[] }>(['dns']);
  const printed = dns.domains.find((domain) => domain.domain === RETIRING_DOMAIN)!;
  assert.equal(detail.retired, true);
  assert.equal(printed.retired, true);
  assert.equal(detail.delete_after, printed.delete_after);
  assert.equal(detail.mode, 'none');
  assert.deepEqual(
    detail.history.map((record) => [record.id, record.mode]),
    [
      ['oldexample20261001', 'enforce'],
      [detail.policy_id, 'none'],
    ],
  );
});
