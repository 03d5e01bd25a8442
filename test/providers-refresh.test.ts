import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { refreshProvidersCommand } from '../src/cli/providers.js';
import { ProviderClassifier } from '../src/fetches/providers.js';
import { cliInProcess, TextSink } from './support/cli.js';
import { TestDnsServer } from './support/dns-server.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { TESTMAIL_PROVIDER_LIST } from './support/provider-lists.js';
import { startTestServiceAt, writeTestConfig } from './support/service.js';

// `providers refresh` and the service's refresh, against a real DNS server on loopback: the ranges
// stored, the diff shown, and a running service attributing fetches by the new ranges at once.

let dns: TestDnsServer;

/** A provider list standing in for the shipped one: one provider refreshed from SPF, one whose record is missing. */
const PROVIDERS = `${TESTMAIL_PROVIDER_LIST}  gone:
    name: Gone Mail
    user_agents: []
    ranges: []
    spf: [_spf.gone.example]
  written:
    name: Written Mail
    user_agents: ['^Written-STS']
    ranges: []
`;

before(async () => {
  dns = await TestDnsServer.start();
  dns.setTxt('_spf.testmail.example', ['v=spf1 include:_v4.testmail.example ip6:2001:db8:77::/48 -all']);
  dns.setTxt('_v4.testmail.example', ['v=spf1 ip4:192.0.2.0/25 ip4:203.0.113.0/24 ~all']);
});

after(() => dns.close());

async function setUp(extraConfig = '') {
  const { dir, configPath } = await writeTestConfig('');
  const shipped = join(dir, 'providers.yaml');
  await writeFile(shipped, PROVIDERS);
  await writeFile(
    configPath,
    `domains:
  example.com: { mode: enforce, mx: [mail.example.com] }
trust_proxy: [127.0.0.1]
listen: { address: 127.0.0.1, https: 0, http: 0 }
admin: { enabled: false }
reverse_dns: { enabled: false }
health: { enabled: false }
statistics: { flush_interval_s: 1 }
state_dir: state
providers: { resolver: ["127.0.0.1:${dns.port}"], timeout_ms: 500${extraConfig} }
`,
  );
  return { dir, configPath, shipped };
}

async function refresh(configPath: string, shipped: string, json: boolean, now: string) {
  const out = new TextSink();
  const err = new TextSink();
  const code = await refreshProvidersCommand(configPath, { json, shipped, now: new Date(now) }, out, err);
  return { code, stdout: out.text, stderr: err.text };
}

test('providers refresh: ranges stored with their records; the next run shows what changed; --json', async () => {
  const { dir, configPath, shipped } = await setUp();
  const first = await refresh(configPath, shipped, false, '2026-12-01T10:00:00Z');
  assert.equal(first.code, 1, 'one provider failed');
  assert.equal(first.stderr, '');
  assert.equal(
    first.stdout.replace(`${dir}/`, ''),
    `Provider ranges from SPF records, 2026-12-01 10:00 UTC; stored in state/providers/spf-ranges.json

PROVIDER  RANGES    CHANGE         SPF RECORDS
testmail  3         first refresh  _spf.testmail.example
gone      0 (kept)  failed         _spf.gone.example

gone:
  failed: _spf.gone.example has no TXT record; the written ranges apply
`,
  );
  const stored = JSON.parse(await readFile(join(dir, 'state/providers/spf-ranges.json'), 'utf8'));
  assert.deepEqual(stored.providers.testmail, {
    refreshed_at: '2026-12-01T10:00:00.000Z',
    records: ['_spf.testmail.example'],
    ranges: [
      { range: '192.0.2.0/25', record: '_v4.testmail.example' },
      { range: '203.0.113.0/24', record: '_v4.testmail.example' },
      { range: '2001:db8:77::/48', record: '_spf.testmail.example' },
    ],
    notes: [],
  });
  assert.equal(stored.providers.gone, undefined);

  // The provider moves: one range more, one less, and a record that claims everything.
  dns.setTxt('_v4.testmail.example', ['v=spf1 ip4:192.0.2.0/25 ip4:198.18.0.0/15 +all']);
  dns.setTxt('_spf.gone.example', ['v=spf1 ip4:233.252.0.0/24 -all']);
  try {
    const second = await refresh(configPath, shipped, false, '2026-12-02T10:00:00Z');
    assert.equal(second.code, 0);
    assert.equal(
      second.stdout.replace(`${dir}/`, ''),
      `Provider ranges from SPF records, 2026-12-02 10:00 UTC; stored in state/providers/spf-ranges.json

PROVIDER  RANGES  CHANGE              SPF RECORDS
testmail  3       +1 range, -1 range  _spf.testmail.example
gone      1       first refresh       _spf.gone.example

testmail:
  + 198.18.0.0/15 (_v4.testmail.example)
  - 203.0.113.0/24 (_v4.testmail.example)
  note: _v4.testmail.example: "+all" refused: it would claim every address
`,
    );
    const json = await refresh(configPath, shipped, true, '2026-12-02T11:00:00Z');
    assert.equal(json.code, 0);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.refreshed_at, '2026-12-02T11:00:00.000Z');
    assert.deepEqual(
      parsed.providers.map((entry: { provider: string; ok: boolean; ranges: unknown[]; added: unknown[]; notes: string[] }) => [
        entry.provider,
        entry.ok,
        entry.ranges.length,
        entry.added,
        entry.notes.length,
      ]),
      [
        ['testmail', true, 3, [], 1],
        ['gone', true, 1, [], 0],
      ],
    );
  } finally {
    dns.setTxt('_v4.testmail.example', ['v=spf1 ip4:192.0.2.0/25 ip4:203.0.113.0/24 ~all']);
    dns.remove('_spf.gone.example');
  }
});

test('providers refresh: a DNS server that does not answer keeps the last good ranges (exit 1)', async () => {
  const { dir, configPath, shipped } = await setUp();
  assert.equal((await refresh(configPath, shipped, false, '2026-12-01T10:00:00Z')).code, 1);
  const before = await readFile(join(dir, 'state/providers/spf-ranges.json'), 'utf8');
  dns.setBlackHole(true);
  try {
    const failed = await refresh(configPath, shipped, false, '2026-12-02T10:00:00Z');
    assert.equal(failed.code, 1);
    assert.match(
      failed.stdout,
      /testmail:\n {2}failed: no DNS answer for _spf\.testmail\.example within 500 ms; kept 3 ranges of 2026-12-01 10:00 UTC\n/,
    );
  } finally {
    dns.setBlackHole(false);
  }
  assert.equal(await readFile(join(dir, 'state/providers/spf-ranges.json'), 'utf8'), before);
});

test('providers: usage errors exit 2', async () => {
  const { configPath } = await setUp();
  const none = await cliInProcess(['providers', '--config', configPath]);
  assert.deepEqual(
    [none.code, none.stderr],
    [2, 'mta-sts-server providers: expected refresh (see mta-sts-server providers --help)\n'],
  );
  const other = await cliInProcess(['providers', 'list', '--config', configPath]);
  assert.equal(other.code, 2);
  const resolver = await cliInProcess(['providers', 'refresh', '--resolver', 'nonsense', '--config', configPath]);
  assert.deepEqual(
    [resolver.code, resolver.stderr],
    [2, '--resolver nonsense is not a DNS server address; write IP or IP:PORT ([IPv6]:PORT)\n'],
  );
  const help = await cliInProcess(['providers', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: mta-sts-server providers \[options\] refresh\n/);
});

test('serve: a refresh under load is applied without a restart and without a failed request; log and stats follow', async () => {
  const { dir, configPath, shipped } = await setUp(', refresh: 1h');
  const running = await startTestServiceAt(dir, configPath, { providersFile: shipped, providerRefresh: { firstDelayMs: 300 } });
  const ca = await readFile(join(dir, 'state/self-signed/ca.pem'), 'utf8');
  const statuses: number[] = [];
  try {
    // Four clients fetch from 192.0.2.50 (through the trusted proxy header) until the refresh is in and a few fetches after it.
    let afterRefresh = 0;
    const client = async () => {
      while (afterRefresh < 20) {
        const response = await fetchPolicy({
          port: running.httpsPort,
          host: 'mta-sts.example.com',
          ca,
          headers: { 'x-forwarded-for': '192.0.2.50' },
        });
        statuses.push(response.status);
        if (running.log.events('providers_refreshed').length > 0) afterRefresh++;
      }
    };
    await Promise.all([client(), client(), client(), client()]);
  } finally {
    await running.service.stop();
  }
  assert.ok(statuses.length > 20);
  assert.ok(
    statuses.every((status) => status === 200),
    `statuses: ${[...new Set(statuses)].join(', ')}`,
  );

  const refreshed = running.log.events('providers_refreshed');
  assert.equal(refreshed.length, 1);
  assert.deepEqual(refreshed[0]!.providers, [
    { provider: 'testmail', ok: true, ranges: 3, added: 3, removed: 0, notes: [] },
    { provider: 'gone', ok: false, ranges: 0, added: 0, removed: 0, notes: [], problem: '_spf.gone.example has no TXT record' },
  ]);
  assert.deepEqual(refreshed[0]!.failed, ['gone']);
  // Before the refresh, the written range (198.51.100.0/24) did not cover the address; from the refresh on, the SPF one does.
  const lines = running.log.lines.filter((line) => line.event === 'policy_fetch' || line.event === 'providers_refreshed');
  const at = lines.findIndex((line) => line.event === 'providers_refreshed');
  const providersBefore = new Set(lines.slice(0, at).map((line) => line.provider));
  const providersAfter = new Set(lines.slice(at + 1).map((line) => line.provider));
  assert.deepEqual([...providersBefore], ['unknown']);
  assert.deepEqual([...providersAfter], ['testmail']);

  const stats = await cliInProcess(['stats', '--config', configPath, '--json']);
  assert.equal(stats.code, 0, stats.stderr);
  const counted = JSON.parse(stats.stdout).domains[0].providers.map((row: { provider: string; fetches: number }) => [
    row.provider,
    row.fetches,
  ]);
  assert.deepEqual(counted.map(([provider]: [string]) => provider).sort(), ['testmail', 'unknown']);
  assert.equal(
    counted.reduce((sum: number, [, fetches]: [string, number]) => sum + fetches, 0),
    statuses.length,
  );

  // A restart starts from the stored refresh: the first fetch is attributed by it, before any new refresh.
  const restarted = await startTestServiceAt(dir, configPath, {
    providersFile: shipped,
    providerRefresh: { firstDelayMs: 60_000 },
  });
  try {
    await fetchPolicy({
      port: restarted.httpsPort,
      host: 'mta-sts.example.com',
      ca,
      headers: { 'x-forwarded-for': '2001:db8:77::25' },
    });
  } finally {
    await restarted.service.stop();
  }
  assert.equal(restarted.log.events('policy_fetch')[0]!.provider, 'testmail');
  assert.equal(restarted.log.events('providers_refreshed').length, 0);
});

test('refreshed ranges replace the written ones of providers with spf:, never a range another entry lists', async () => {
  const { dir } = await writeTestConfig('');
  const shipped = join(dir, 'providers.yaml');
  await writeFile(
    shipped,
    `providers:
  first:
    name: First
    user_agents: []
    ranges: ['192.0.2.0/24']
  second:
    name: Second
    user_agents: []
    ranges: ['198.51.100.0/24']
    spf: [_spf.second.example]
  third:
    name: Third
    user_agents: ['^Third']
    ranges: ['203.0.113.0/24']
    spf: [_spf.third.example]
`,
  );
  const mine = join(dir, 'mine.yaml');
  // The user's entry replaces the shipped one whole: without spf:, its own ranges stay.
  await writeFile(mine, `providers:\n  third:\n    name: Third (mine)\n    user_agents: []\n    ranges: ['203.0.113.0/24']\n`);
  const refreshed = new Map([
    // 192.0.2.0/24 is first's written range, spelt differently: it stays first's.
    ['second', ['192.0.2.0/24', '233.252.0.0/24', '2001:db8::/32']],
    ['third', ['10.9.0.0/16']],
  ]);
  const classifier = await ProviderClassifier.fromFiles([shipped, mine], refreshed);
  const owner = (ip: string) => classifier.classify(ip, '').provider;
  assert.deepEqual(['192.0.2.1', '233.252.0.9', '2001:db8::1', '198.51.100.1', '203.0.113.5', '10.9.0.1'].map(owner), [
    'first',
    'second',
    'second',
    'unknown',
    'third',
    'unknown',
  ]);
  assert.deepEqual(classifier.spfSources, [{ id: 'second', records: ['_spf.second.example'] }]);
});

test('a stored refresh that cannot be read is ignored with a warning: the written ranges apply', async () => {
  const { dir, configPath, shipped } = await setUp();
  await mkdir(join(dir, 'state/providers'), { recursive: true });
  await writeFile(join(dir, 'state/providers/spf-ranges.json'), '{"version": 1, "providers": {"testmail": {"ranges": "all"}}}');
  const running = await startTestServiceAt(dir, configPath, {
    providersFile: shipped,
    providerRefresh: { firstDelayMs: 60_000 },
  });
  const ca = await readFile(join(dir, 'state/self-signed/ca.pem'), 'utf8');
  try {
    await fetchPolicy({
      port: running.httpsPort,
      host: 'mta-sts.example.com',
      ca,
      headers: { 'x-forwarded-for': '198.51.100.9' },
    });
  } finally {
    await running.service.stop();
  }
  const ignored = running.log.events('providers_refresh_file_ignored');
  assert.equal(ignored.length, 1);
  assert.match(String(ignored[0]!.problem), /^providers\/spf-ranges\.json is not a refresh file: /);
  assert.equal(running.log.events('policy_fetch')[0]!.provider, 'testmail');
});

test('spf: in a provider list takes lower-case DNS names only, each error located', () => {
  const problems = (spf: unknown) => {
    try {
      ProviderClassifier.fromData({ providers: { mail: { name: 'Mail', user_agents: [], ranges: [], spf } } }, 'p.yaml');
      return [];
    } catch (error) {
      return (error as Error).message.split('\n');
    }
  };
  assert.deepEqual(problems(['_spf.mail.example']), []);
  assert.deepEqual(problems(['_SPF.Mail.example', 'mail', 'evil\u001b.example']), [
    'p.yaml providers.mail.spf[0]: "_SPF.Mail.example" is not a lower-case DNS name such as _spf.google.com',
    'p.yaml providers.mail.spf[1]: "mail" is not a lower-case DNS name such as _spf.google.com',
    'p.yaml providers.mail.spf[2]: "evil\\u001b.example" is not a lower-case DNS name such as _spf.google.com',
  ]);
  assert.deepEqual(problems('_spf.mail.example'), [
    'p.yaml providers.mail.spf: "_spf.mail.example" is not a list; expected a list of DNS names (write [] for none)',
  ]);
});
