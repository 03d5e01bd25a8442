import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { FetchStatisticsRecorder, type CountedFetch } from '../src/fetches/fetch-statistics.js';
import type { DailyFetches, ProviderFetchStatistics } from '../src/storage/fetch-statistics-store.js';
import { daysBefore, utcDay } from '../src/time/days.js';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { loadConfigFile } from '../src/config/load.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { createLogger } from '../src/log/logger.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { cliInProcess } from './support/cli.js';
import { TestDnsServer } from './support/dns-server.js';
import { JsonLogProcess, serveProcess } from './support/json-log-process.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { rawHttpsRequest } from './support/raw-client.js';
import { LogCapture, LOOPBACK_LISTEN, startTestService, startTestServiceAt, writeTestConfig } from './support/service.js';

const GOOGLE_UA = 'Google-SMTP-STS';

const scratch = () => mkdtemp(join(tmpdir(), 'mta-sts-stats-'));

function fetchAt(at: string, domain: string, provider: string, ip: string, policyId: string, claimed = false): CountedFetch {
  return { atMs: Date.parse(at), domain, provider, ip, policyId, claimed };
}

/** Rows sorted for comparison, without the fields a case does not care about. */
const byKey = (rows: ProviderFetchStatistics[]) =>
  [...rows].sort((a, b) => `${a.domain} ${a.provider}`.localeCompare(`${b.domain} ${b.provider}`));

test('the store sums batches over days: fetches, distinct addresses, first and last seen, last policy id; prune deletes old days', async () => {
  const stateDir = await scratch();
  const store = SqliteFetchStatistics.open(stateDir);
  const log = createLogger('silent');
  const recorder = new FetchStatisticsRecorder(store, { flushIntervalMs: 60_000, retentionDays: 400, log });
  recorder.record(fetchAt('2026-11-27T23:59:00Z', 'example.com', 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt('2026-11-28T00:01:00Z', 'example.com', 'google', '209.85.220.41', 'id-1'));
  await recorder.flush();
  // A second batch for the same day adds to it; an address seen on both days counts once over the period.
  recorder.record(fetchAt('2026-11-28T10:00:00Z', 'example.com', 'google', '2a00:1450:4864:20::536', 'id-2'));
  recorder.record(fetchAt('2026-11-28T09:00:00Z', 'example.com', 'microsoft', '104.47.18.100', 'id-1'));
  recorder.record(fetchAt('2026-11-28T09:30:00Z', 'example.org', 'unknown', '203.0.113.7', 'id-9', true));
  await recorder.flush();

  const all = byKey(await store.query({ sinceDay: '2026-11-01' }));
  assert.deepEqual(all, [
    {
      domain: 'example.com',
      provider: 'google',
      fetches: 3,
      claimed: 0,
      addresses: 2,
      addressesCapped: false,
      firstSeen: '2026-11-27T23:59:00.000Z',
      lastSeen: '2026-11-28T10:00:00.000Z',
      lastPolicyId: 'id-2',
      fetchesByPolicyId: { 'id-1': 2, 'id-2': 1 },
    },
    {
      domain: 'example.com',
      provider: 'microsoft',
      fetches: 1,
      claimed: 0,
      addresses: 1,
      addressesCapped: false,
      firstSeen: '2026-11-28T09:00:00.000Z',
      lastSeen: '2026-11-28T09:00:00.000Z',
      lastPolicyId: 'id-1',
      fetchesByPolicyId: { 'id-1': 1 },
    },
    {
      domain: 'example.org',
      provider: 'unknown',
      fetches: 1,
      claimed: 1,
      addresses: 1,
      addressesCapped: false,
      firstSeen: '2026-11-28T09:30:00.000Z',
      lastSeen: '2026-11-28T09:30:00.000Z',
      lastPolicyId: 'id-9',
      fetchesByPolicyId: { 'id-9': 1 },
    },
  ]);
  // Only the 28th, one domain.
  const google = await store.query({ sinceDay: '2026-11-28', domain: 'example.com' });
  assert.deepEqual(
    byKey(google).map((row) => [row.provider, row.fetches, row.addresses, row.firstSeen]),
    [
      ['google', 2, 2, '2026-11-28T00:01:00.000Z'],
      ['microsoft', 1, 1, '2026-11-28T09:00:00.000Z'],
    ],
  );

  assert.equal(await store.prune('2026-11-28'), 1);
  assert.deepEqual(
    byKey(await store.query({ sinceDay: '2000-01-01' })).map((row) => [row.provider, row.fetches, row.addresses]),
    [
      ['google', 2, 2],
      ['microsoft', 1, 1],
      ['unknown', 1, 1],
    ],
  );
  await recorder.close();
});

test('a batch the database refuses (locked by another process) is kept and written with the next one', async () => {
  const stateDir = await scratch();
  const store = SqliteFetchStatistics.open(stateDir);
  const capture = new LogCapture();
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 400,
    log: createLogger('debug', capture),
  });
  await recorder.start();
  // Someone's sqlite3 shell holding the write lock.
  const other = new Database(stateDatabasePath(stateDir));
  other.exec('BEGIN IMMEDIATE');
  recorder.record(fetchAt('2026-11-28T09:00:00Z', 'example.com', 'google', '209.85.220.41', 'id-1'));
  recorder.record(fetchAt('2026-11-28T09:01:00Z', 'example.com', 'google', '209.85.220.42', 'id-1'));
  await recorder.flush();
  const error = await capture.waitFor((line) => line.event === 'fetch_statistics_error', 1_000);
  assert.equal(error.pending_fetches, 2);
  assert.match(String(error.error), /locked/);
  other.exec('COMMIT');
  other.close();

  recorder.record(fetchAt('2026-11-28T09:02:00Z', 'example.com', 'google', '209.85.220.41', 'id-2'));
  await recorder.flush();
  await capture.waitFor((line) => line.event === 'fetch_statistics_recovered', 1_000);
  const [row] = await store.query({ sinceDay: '2026-11-28' });
  assert.deepEqual(
    { fetches: row!.fetches, addresses: row!.addresses, firstSeen: row!.firstSeen, lastPolicyId: row!.lastPolicyId },
    { fetches: 3, addresses: 2, firstSeen: '2026-11-28T09:00:00.000Z', lastPolicyId: 'id-2' },
  );
  await recorder.close();
});

// ---- through the real service ----

let dns: TestDnsServer;

before(async () => {
  dns = await TestDnsServer.start();
  // Microsoft fetching from an address its published ranges do not cover: only reverse DNS tells.
  dns.setPtr('192.0.2.10', 'mail-db8eur05on2101.outbound.protection.outlook.com');
  dns.setA('mail-db8eur05on2101.outbound.protection.outlook.com', ['192.0.2.10']);
  // A VPS with an honest PTR and a Google user agent.
  dns.setPtr('203.0.113.7', 'vps7.hosting.example');
  dns.setA('vps7.hosting.example', ['203.0.113.7']);
});

after(() => dns.close());

const serviceConfig = (extra = '') => `
domains:
  example.com: { mode: enforce, mx: [mail.example.com] }
  example.org: { mode: testing, mx: [mail.example.org] }
trust_proxy: [127.0.0.1]
listen: { address: 127.0.0.1, https: 0, http: 0 }
admin: { enabled: false }
state_dir: state
${extra}`;

test('attribution through the real server: what is logged and what is stored, case by case', async () => {
  const running = await startTestService(
    serviceConfig(`reverse_dns: { servers: ["127.0.0.1:${dns.port}"], timeout_ms: 1000 }\n`),
  );
  const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
  const cases = [
    { what: 'Google, IPv4', ip: '209.85.220.41', ua: GOOGLE_UA, logged: ['209.85.220.41', 'google', 'ua+ip', null] },
    {
      what: 'Google, IPv6',
      ip: '2a00:1450:4864:20::536',
      ua: GOOGLE_UA,
      logged: ['2a00:1450:4864:20::536', 'google', 'ua+ip', null],
    },
    {
      what: 'Google, IPv4-mapped IPv6',
      ip: '::ffff:209.85.220.41',
      ua: GOOGLE_UA,
      logged: ['209.85.220.41', 'google', 'ua+ip', null],
    },
    { what: 'Microsoft, no user agent', ip: '104.47.18.100', ua: '', logged: ['104.47.18.100', 'microsoft', 'ip', null] },
    { what: 'Microsoft, known by reverse DNS only', ip: '192.0.2.10', ua: '', logged: ['192.0.2.10', 'unknown', 'none', null] },
    { what: 'Yahoo', ip: '98.137.65.148', ua: 'AHC/2.1', logged: ['98.137.65.148', 'yahoo', 'ua+ip', null] },
    { what: 'spoofed Google user agent', ip: '203.0.113.7', ua: GOOGLE_UA, logged: ['203.0.113.7', 'unknown', 'none', 'google'] },
    { what: 'unknown, no user agent', ip: '198.51.100.20', ua: '', logged: ['198.51.100.20', 'unknown', 'none', null] },
  ];
  try {
    for (const { ip, ua } of cases) {
      const response = await fetchPolicy({
        port: running.httpsPort,
        host: 'mta-sts.example.com',
        ca,
        headers: { 'x-forwarded-for': ip, 'user-agent': ua },
      });
      assert.equal(response.status, 200);
    }
    // Every public address gets its reverse DNS line before the service stops.
    await running.log.waitFor(() => running.log.events('policy_fetch_ptr').length === cases.length, 5_000);
  } finally {
    await running.service.stop();
  }
  const fetches = running.log.events('policy_fetch').slice(0, cases.length);
  assert.deepEqual(
    fetches.map((line) => [line.ip, line.provider, line.provider_evidence, line.provider_claimed]),
    cases.map((item) => item.logged),
  );
  const ptr = running.log.events('policy_fetch_ptr').find((line) => line.ip === '192.0.2.10')!;
  assert.deepEqual(
    [ptr.ptr_confirmed, ptr.ptr_provider, ptr.provider, ptr.contradicted],
    [true, 'microsoft', 'microsoft', false],
  );
  const spoofed = running.log.events('policy_fetch_ptr').find((line) => line.ip === '203.0.113.7')!;
  assert.deepEqual([spoofed.provider, spoofed.contradicted], ['unknown', true]);

  const store = SqliteFetchStatistics.openReadOnly(join(running.dir, 'state'));
  const stored = byKey(await store.query({ sinceDay: utcDay(new Date()) }));
  await store.close();
  const policyId = running.service.currentPolicies.forHost('mta-sts.example.com')!.id;
  assert.deepEqual(
    stored.map((row) => [row.domain, row.provider, row.fetches, row.addresses, row.claimed, row.lastPolicyId]),
    [
      // The IPv4-mapped fetch is the same address as the IPv4 one.
      ['example.com', 'google', 3, 2, 0, policyId],
      ['example.com', 'microsoft', 2, 2, 0, policyId],
      ['example.com', 'unknown', 2, 2, 1, policyId],
      ['example.com', 'yahoo', 1, 1, 0, policyId],
    ],
  );
});

test('only a GET answered with a policy is counted: not HEAD, not a host we do not serve, not POST', async () => {
  // No trusted proxy: requests take the listener's fast path, as they do in production.
  const running = await startTestService(
    `domains:\n  example.com: { mode: enforce, mx: [mail.example.com] }\n${LOOPBACK_LISTEN}`,
  );
  const ca = await readFile(join(running.dir, 'state', 'self-signed', 'ca.pem'), 'utf8');
  const send = (method: string, host: string, extra = '') =>
    rawHttpsRequest(
      running.httpsPort,
      `${method} /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`,
      { servername: host, ca, rejectUnauthorized: host === 'mta-sts.example.com' },
    );
  try {
    assert.equal((await send('GET', 'mta-sts.example.com')).status, 200);
    assert.equal((await send('HEAD', 'mta-sts.example.com')).status, 200);
    assert.equal((await send('GET', 'mta-sts.example.net')).status, 404);
    assert.equal((await send('POST', 'mta-sts.example.com', 'Content-Length: 0\r\n')).status, 405);
  } finally {
    await running.service.stop();
  }
  // All four reached the fetch log, which is what feeds the statistics.
  assert.deepEqual(
    running.log.events('policy_fetch').map((line) => [line.method, line.status]),
    [
      ['GET', 200],
      ['HEAD', 200],
      ['GET', 404],
      ['POST', 405],
    ],
  );
  const store = SqliteFetchStatistics.openReadOnly(join(running.dir, 'state'));
  const stored = await store.query({ sinceDay: '2000-01-01' });
  await store.close();
  assert.deepEqual(
    stored.map((row) => [row.domain, row.fetches]),
    [['example.com', 1]],
  );
});

async function httpsPortOf(service: JsonLogProcess): Promise<number> {
  const started = await service.waitForEvent('service_started');
  return (started.https as { port: number }).port;
}

/** Fetches the service acknowledged as written to the database, so far. */
const writtenBy = (service: JsonLogProcess) =>
  service.lines
    .filter((line) => line.event === 'fetch_statistics_written')
    .reduce((sum, line) => sum + (line.fetches as number), 0);

async function stopWith(service: JsonLogProcess, signal: NodeJS.Signals): Promise<void> {
  service.child.kill(signal);
  await service.exited;
}

async function storedFetches(stateDir: string): Promise<number> {
  const store = SqliteFetchStatistics.openReadOnly(stateDir);
  try {
    return (await store.query({ sinceDay: '2000-01-01' })).reduce((sum, row) => sum + row.fetches, 0);
  } finally {
    await store.close();
  }
}

test('kill -9 loses at most the fetches since the last batch; a restart keeps counting; a normal stop loses nothing', async () => {
  const { dir, configPath } = await writeTestConfig(
    serviceConfig('reverse_dns: { enabled: false }\nlog: { level: debug }\nstatistics: { flush_interval_s: 1 }\n'),
  );
  const stateDir = join(dir, 'state');
  const first = serveProcess(configPath);
  const port = await httpsPortOf(first);
  const ca = await readFile(join(stateDir, 'self-signed', 'ca.pem'), 'utf8');
  const fetchOnce = (servicePort: number) =>
    fetchPolicy({ port: servicePort, host: 'mta-sts.example.com', ca, headers: { 'user-agent': GOOGLE_UA } });
  try {
    for (let i = 0; i < 5; i++) await fetchOnce(port);
    await first.waitFor('5 fetches written', () => writtenBy(first) === 5, 5_000);
    // Three more, then the process dies before (or while) the next batch is written.
    for (let i = 0; i < 3; i++) await fetchOnce(port);
  } finally {
    await stopWith(first, 'SIGKILL');
  }
  const afterCrash = await storedFetches(stateDir);
  assert.ok(afterCrash >= 5, `every acknowledged batch is kept (stored ${afterCrash}, acknowledged 5)`);
  assert.ok(afterCrash >= writtenBy(first), `stored ${afterCrash}, acknowledged ${writtenBy(first)}`);
  assert.ok(afterCrash <= 8, `stored ${afterCrash} of 8 fetches`);

  // The restart in this process: that SIGTERM stops the service as stop() does is who.test.ts's to prove.
  const second = await startTestServiceAt(dir, configPath);
  try {
    for (let i = 0; i < 2; i++) await fetchOnce(second.httpsPort);
  } finally {
    await second.service.stop();
  }
  assert.equal(await storedFetches(stateDir), afterCrash + 2);
});

test('retention deletes days past it at start; stats shows providers, last policy ids and the share that got the current id', async () => {
  const { dir, configPath } = await writeTestConfig(
    serviceConfig('reverse_dns: { enabled: false }\nstatistics: { retention_days: 30 }\n'),
  );
  const stateDir = join(dir, 'state');
  const now = new Date();
  const daysAgo = (days: number, time: string) => `${daysBefore(now, days)}T${time}.000Z`;
  const seeded = (day: number, provider: string, fetches: number, policyId: string, ip: string): DailyFetches => ({
    day: daysBefore(now, day),
    domain: 'example.com',
    provider,
    fetches,
    claimed: 0,
    firstSeen: daysAgo(day, '08:00:00'),
    lastSeen: daysAgo(day, '09:30:00'),
    lastPolicyId: policyId,
    addresses: new Set([ip]),
    fetchesByPolicyId: new Map([[policyId, fetches]]),
  });
  const seed = SqliteFetchStatistics.open(stateDir);
  await seed.add([
    seeded(45, 'microsoft', 7, 'aaaaaaaaaaaaaaaaaaaaaaaa', '104.47.18.1'),
    seeded(3, 'microsoft', 4, 'aaaaaaaaaaaaaaaaaaaaaaaa', '104.47.18.2'),
    seeded(10, 'yahoo', 1, 'aaaaaaaaaaaaaaaaaaaaaaaa', '98.137.65.148'),
  ]);
  await seed.close();

  const running = await startTestServiceAt(dir, configPath);
  const currentId = running.service.currentPolicies.forHost('mta-sts.example.com')!.id;
  try {
    const pruned = await running.log.waitFor((line) => line.event === 'fetch_statistics_pruned', 2_000);
    assert.equal(pruned.rows, 1);
    assert.equal(pruned.before, daysBefore(now, 30));
    const ca = await readFile(join(stateDir, 'self-signed', 'ca.pem'), 'utf8');
    for (let i = 0; i < 3; i++) {
      await fetchPolicy({
        port: running.httpsPort,
        host: 'mta-sts.example.com',
        ca,
        headers: { 'x-forwarded-for': '209.85.220.41', 'user-agent': GOOGLE_UA },
      });
    }
  } finally {
    await running.service.stop();
  }

  const stats = (...args: string[]) => cliInProcess(['stats', '--config', configPath, ...args]);
  const json = await stats('--json', '--since', '2w');
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as {
    since: string;
    until: string;
    domains: {
      domain: string;
      current_policy_id: string;
      fetches: number;
      current_id_fetches: number;
      current_id_share: number;
      providers: Record<string, unknown>[];
      not_seen: string[];
    }[];
  };
  assert.equal(report.since, daysBefore(now, 13));
  assert.equal(report.until, utcDay(now));
  const [com, org] = report.domains;
  assert.equal(com!.domain, 'example.com');
  assert.equal(com!.current_policy_id, currentId);
  assert.deepEqual(
    com!.providers.map((row) => [
      row.provider,
      row.name,
      row.fetches,
      row.addresses,
      row.last_policy_id,
      row.has_current_policy,
      row.current_id_fetches,
    ]),
    [
      ['microsoft', 'Microsoft', 4, 1, 'aaaaaaaaaaaaaaaaaaaaaaaa', false, 0],
      ['google', 'Google', 3, 1, currentId, true, 3],
      ['yahoo', 'Yahoo', 1, 1, 'aaaaaaaaaaaaaaaaaaaaaaaa', false, 0],
    ],
  );
  assert.deepEqual([com!.fetches, com!.current_id_fetches, com!.current_id_share], [8, 3, 3 / 8]);
  assert.ok(com!.not_seen.includes('icloud') && !com!.not_seen.includes('google'));
  assert.deepEqual([org!.domain, org!.fetches, org!.providers], ['example.org', 0, []]);

  // The last 7 days leave out Yahoo's fetch ten days ago; the text names the current id and the share.
  const text = await stats('--domain', 'EXAMPLE.com');
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.equal(lines[0], `Policy fetches from ${daysBefore(now, 6)} to ${utcDay(now)} (UTC days)`);
  assert.equal(lines[2], `example.com: serving policy id ${currentId} (mode enforce)`);
  assert.match(lines[3]!, /^ {2}PROVIDER +FETCHES +ADDRESSES +FIRST SEEN +LAST SEEN +LAST POLICY ID +GOT CURRENT ID$/);
  assert.match(
    lines[4]!,
    new RegExp(`^  Microsoft +4 +1 +${daysBefore(now, 3)} 08:00 +${daysBefore(now, 3)} 09:30 +a{24} +0 \\(0%\\)$`),
  );
  assert.match(lines[5]!, new RegExp(`^  Google +3 +1 .* ${currentId} \\(current\\) +3 \\(100%\\)$`));
  assert.equal(
    lines[6],
    `  3 of 7 fetches (42%) got the current policy id; not fetched since it changed: Microsoft (last ${daysBefore(now, 3)} 09:30).`,
  );
  assert.match(lines[7]!, /^ {2}Not seen: Yahoo, Apple iCloud Mail, /);

  assert.deepEqual(await stats('--since', 'last week'), {
    code: 2,
    stdout: '',
    stderr: '--since last week: expected a number of days or weeks (7d, 2w) or a UTC date (2026-11-01)\n',
  });
  const empty = await writeTestConfig(serviceConfig());
  const none = await cliInProcess(['stats', '--config', empty.configPath]);
  assert.equal(none.code, 1);
  assert.equal(
    none.stderr,
    `${join(empty.dir, 'state', 'mta-sts.db')} does not exist: the service has not written any statistics under this state_dir yet\n`,
  );
});

test('stats: the current-id sentence when only unknown senders fetched and in the mixed cases; --domain and --since refused', async () => {
  const { dir, configPath } = await writeTestConfig(`
domains:
  only-unknown.example: { mode: none }
  unknown-behind.example: { mode: none }
  provider-behind.example: { mode: none }
state_dir: state
`);
  const loaded = await loadConfigFile(configPath);
  assert.ok(loaded.ok);
  const currentId = new Map([...new PolicySet(loaded.config.domains).policies].map((policy) => [policy.domain, policy.id]));
  const now = new Date();
  const today = utcDay(now);
  const OLD_ID = 'aaaaaaaaaaaaaaaaaaaaaaaa';
  const seeded = (domain: string, provider: string, policyId: string, ip: string): DailyFetches => ({
    day: today,
    domain,
    provider,
    fetches: 1,
    claimed: 0,
    firstSeen: `${today}T00:10:00.000Z`,
    lastSeen: `${today}T00:10:00.000Z`,
    lastPolicyId: policyId,
    addresses: new Set([ip]),
    fetchesByPolicyId: new Map([[policyId, 1]]),
  });
  const store = SqliteFetchStatistics.open(join(dir, 'state'));
  await store.add([
    seeded('only-unknown.example', 'unknown', OLD_ID, '192.0.2.1'),
    seeded('only-unknown.example', 'unknown', OLD_ID, '192.0.2.2'),
    seeded('unknown-behind.example', 'google', currentId.get('unknown-behind.example')!, '209.85.220.41'),
    seeded('unknown-behind.example', 'unknown', OLD_ID, '192.0.2.3'),
    seeded('provider-behind.example', 'microsoft', OLD_ID, '104.47.18.1'),
    seeded('provider-behind.example', 'unknown', currentId.get('provider-behind.example')!, '192.0.2.4'),
    // A domain taken out of the config keeps its statistics until retention.
    seeded('removed.example', 'google', OLD_ID, '209.85.220.42'),
  ]);
  await store.close();

  const stats = (...args: string[]) => cliInProcess(['stats', '--config', configPath, ...args]);
  const sentence = async (domain: string) => {
    const result = await stats('--domain', domain);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.split('\n').find((line) => line.includes('got the current policy id'));
  };
  assert.equal(
    await sentence('only-unknown.example'),
    '  0 of 2 fetches (0%) got the current policy id; all from unknown senders: no provider identified yet.',
  );
  assert.equal(
    await sentence('unknown-behind.example'),
    '  1 of 2 fetches (50%) got the current policy id; every identified provider has fetched it.',
  );
  assert.equal(
    await sentence('provider-behind.example'),
    `  1 of 2 fetches (50%) got the current policy id; not fetched since it changed: Microsoft (last ${today} 00:10).`,
  );

  const removed = await stats('--domain', 'removed.example');
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /\nremoved\.example \(no longer in the config\)\n/);
  const since = daysBefore(now, 6);
  assert.deepEqual(await stats('--domain', 'typo.example'), {
    code: 2,
    stdout: '',
    stderr: `typo.example is not a domain in ${configPath}, and no statistics since ${since} name it\n`,
  });
  const tomorrow = utcDay(new Date(now.getTime() + 86_400_000));
  assert.deepEqual(await stats('--since', tomorrow), {
    code: 2,
    stdout: '',
    stderr: `--since ${tomorrow} is in the future: today is ${today} (UTC)\n`,
  });
  // Today is the shortest period there is.
  assert.equal((await stats('--since', today)).code, 0);
});
