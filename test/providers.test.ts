import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ipBytes, normaliseIp } from '../src/net/ip-address.js';
import { IpRangeTable } from '../src/net/ip-ranges.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE, type ProviderVerdict } from '../src/fetches/providers.js';
import { aliasBomb } from './support/yaml-inputs.js';

const GOOGLE_UA = 'Google-SMTP-STS';

test('the shipped provider file is the one in config/ at the package root', () => {
  assert.match(SHIPPED_PROVIDERS_FILE, /[/\\]config[/\\]providers\.yaml$/);
  assert.doesNotMatch(SHIPPED_PROVIDERS_FILE, /[/\\]dist[/\\]/);
});

test('classifies fetches against the shipped provider file', async () => {
  const classifier = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  const cases: { what: string; ip: string; ua: string; want: ProviderVerdict }[] = [
    { what: 'Google from Google IPv4', ip: '209.85.220.41', ua: GOOGLE_UA, want: { provider: 'google', evidence: 'ua+ip' } },
    {
      what: 'Google from Google IPv6',
      ip: '2a00:1450:4864:20::536',
      ua: GOOGLE_UA,
      want: { provider: 'google', evidence: 'ua+ip' },
    },
    {
      what: 'Google from IPv4-mapped',
      ip: '::ffff:209.85.220.41',
      ua: GOOGLE_UA,
      want: { provider: 'google', evidence: 'ua+ip' },
    },
    { what: 'Google from _netblocks3', ip: '35.191.10.1', ua: GOOGLE_UA, want: { provider: 'google', evidence: 'ua+ip' } },
    { what: 'Google address, other UA', ip: '74.125.1.2', ua: 'curl/8.5.0', want: { provider: 'google', evidence: 'ip' } },
    { what: 'Microsoft from 104.47/17', ip: '104.47.18.100', ua: '', want: { provider: 'microsoft', evidence: 'ip' } },
    { what: 'Microsoft from 40.92/15', ip: '40.92.66.12', ua: '', want: { provider: 'microsoft', evidence: 'ip' } },
    { what: 'Microsoft from 40.93 (top of /15)', ip: '40.93.255.1', ua: '', want: { provider: 'microsoft', evidence: 'ip' } },
    { what: 'Microsoft IPv6', ip: '2a01:111:f403:2c0e::709', ua: '', want: { provider: 'microsoft', evidence: 'ip' } },
    { what: 'Yahoo AHC from Yahoo', ip: '98.137.65.148', ua: 'AHC/2.1', want: { provider: 'yahoo', evidence: 'ua+ip' } },
    { what: 'Yahoo IPv6, no UA', ip: '2001:4998:44:3507::8000', ua: '', want: { provider: 'yahoo', evidence: 'ip' } },
    {
      what: 'spoofed Google UA',
      ip: '203.0.113.7',
      ua: GOOGLE_UA,
      want: { provider: 'unknown', evidence: 'none', claimed: 'google' },
    },
    {
      what: 'AHC from a non-Yahoo address',
      ip: '198.51.100.9',
      ua: 'AHC/2.1',
      want: { provider: 'unknown', evidence: 'none', claimed: 'yahoo' },
    },
    { what: 'no UA, unknown address', ip: '198.51.100.20', ua: '', want: { provider: 'unknown', evidence: 'none' } },
    { what: 'unknown UA, unknown IPv6', ip: '2001:db8::1', ua: 'Mozilla/5.0', want: { provider: 'unknown', evidence: 'none' } },
    {
      what: 'Microsoft address claiming Google',
      ip: '40.107.22.5',
      ua: GOOGLE_UA,
      want: { provider: 'microsoft', evidence: 'ip', claimed: 'google' },
    },
    { what: 'Yahoo UA is exact', ip: '98.137.65.148', ua: 'AHC/2.10', want: { provider: 'yahoo', evidence: 'ip' } },
    {
      what: 'UA patterns are case-sensitive',
      ip: '203.0.113.7',
      ua: 'google-smtp-sts',
      want: { provider: 'unknown', evidence: 'none' },
    },
  ];
  for (const { what, ip, ua, want } of cases) {
    assert.deepEqual(classifier.classify(ip, ua), want, what);
  }
});

test('a confirmed reverse DNS name names its provider, including those known by name only', async () => {
  const classifier = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  const cases: [string, string | undefined][] = [
    ['mail-ua1-f45.google.com', 'google'],
    ['mail-db8eur05on2101.outbound.protection.outlook.com', 'microsoft'],
    ['imta08.westchester.pa.mail.comcast.net', 'comcast'],
    // A residential Comcast customer is not Comcast's mail system.
    ['c-73-162-10-5.hsd1.ca.comcast.net', undefined],
    ['smtp47.i.mail.ru', 'mail-ru'],
    ['mx0a-00191d01.pphosted.com', 'proofpoint'],
    ['mx1-eu1.ppe-hosted.com', 'proofpoint'],
    ['esa1.example.iphmx.com', 'cisco'],
    // A domain only counts whole labels.
    ['mail.notgoogle.com', undefined],
    // The domain itself, not only names below it.
    ['google.com', 'google'],
    ['vps7.hosting.example', undefined],
  ];
  assert.deepEqual(
    cases.map(([hostname]) => [hostname, classifier.providerOfHostname(hostname)]),
    cases,
  );
});

test('the shipped file attributes the other major senders', async () => {
  const classifier = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  // One address inside a listed range per provider; no provider below sends a User-Agent we know of.
  const byAddress: { provider: string; ip: string }[] = [
    { provider: 'icloud', ip: '17.57.155.23' },
    { provider: 'icloud', ip: '57.103.80.1' },
    { provider: 'icloud', ip: '2a01:b747:3003:200::17' },
    { provider: 'yandex', ip: '77.88.21.249' },
    { provider: 'yandex', ip: '2a02:6b8:0:1a2d::5' },
    { provider: 'yandex', ip: '2a02:6b8:b010:7600::1' },
    { provider: 'gmx', ip: '212.227.15.18' },
    { provider: 'gmx', ip: '74.208.4.200' },
    { provider: 'proton', ip: '185.70.40.22' },
    { provider: 'proton', ip: '109.224.244.100' },
    { provider: 'fastmail', ip: '66.111.4.222' },
    { provider: 'fastmail', ip: '103.168.172.150' },
    { provider: 'zoho', ip: '136.143.188.112' },
    { provider: 'zoho', ip: '185.230.212.9' },
    { provider: 'amazon-ses', ip: '54.240.8.33' },
    { provider: 'amazon-ses', ip: '199.255.194.10' },
    { provider: 'mimecast', ip: '205.139.110.61' },
    { provider: 'mimecast', ip: '185.58.84.93' },
    { provider: 'mimecast', ip: '41.74.201.5' },
  ];
  for (const { provider, ip } of byAddress) {
    assert.deepEqual(classifier.classify(ip, ''), { provider, evidence: 'ip' }, `${provider} from ${ip}`);
    assert.deepEqual(classifier.classify(ip, 'curl/8.5.0'), { provider, evidence: 'ip' }, `${provider} from ${ip}, other UA`);
  }

  const cases: { what: string; ip: string; ua: string; want: ProviderVerdict }[] = [
    {
      what: 'postfix-mta-sts-resolver from anywhere',
      ip: '203.0.113.7',
      ua: 'postfix-mta-sts-resolver',
      want: { provider: 'postfix-mta-sts-resolver', evidence: 'ua' },
    },
    {
      what: 'postfix-mta-sts-resolver over IPv6',
      ip: '2001:db8::25',
      ua: 'postfix-mta-sts-resolver',
      want: { provider: 'postfix-mta-sts-resolver', evidence: 'ua' },
    },
    {
      what: 'postfix-mta-sts-resolver run from a Mimecast address',
      ip: '205.139.110.61',
      ua: 'postfix-mta-sts-resolver',
      want: { provider: 'mimecast', evidence: 'ip', claimed: 'postfix-mta-sts-resolver' },
    },
    {
      what: "resolver versions before 0.4.5 send aiohttp's stock UA, which claims nothing",
      ip: '203.0.113.7',
      ua: 'Python/3.7 aiohttp/3.5.4',
      want: { provider: 'unknown', evidence: 'none' },
    },
    {
      what: 'Google UA from an iCloud address',
      ip: '17.58.1.1',
      ua: GOOGLE_UA,
      want: { provider: 'icloud', evidence: 'ip', claimed: 'google' },
    },
    { what: 'just outside GMX 212.227.17.0/27', ip: '212.227.17.32', ua: '', want: { provider: 'unknown', evidence: 'none' } },
    { what: 'just outside Zoho 136.143.188.0/24', ip: '136.143.189.1', ua: '', want: { provider: 'unknown', evidence: 'none' } },
  ];
  for (const { what, ip, ua, want } of cases) {
    assert.deepEqual(classifier.classify(ip, ua), want, what);
  }

  assert.deepEqual(
    ['icloud', 'yandex', 'gmx', 'proton', 'fastmail', 'zoho', 'amazon-ses', 'mimecast', 'postfix-mta-sts-resolver'].map((id) =>
      classifier.providerName(id),
    ),
    [
      'Apple iCloud Mail',
      'Yandex',
      'GMX / WEB.DE (United Internet)',
      'Proton Mail',
      'Fastmail',
      'Zoho Mail',
      'Amazon SES',
      'Mimecast',
      'postfix-mta-sts-resolver',
    ],
  );
});

test('display names', async () => {
  const classifier = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  assert.deepEqual(
    ['google', 'microsoft', 'yahoo', 'unknown', 'retired-provider'].map((id) => classifier.providerName(id)),
    ['Google', 'Microsoft', 'Yahoo', 'Unknown', 'retired-provider'],
  );
});

test('a provider without ranges is recognised by user agent alone', () => {
  const classifier = ProviderClassifier.fromData(
    {
      providers: {
        example: { name: 'Example Mail', user_agents: ['^ExampleSTS/'], ranges: [] },
        ranged: { name: 'Ranged', user_agents: [], ranges: ['192.0.2.0/24'] },
      },
    },
    'test data',
  );
  assert.deepEqual(classifier.classify('203.0.113.7', 'ExampleSTS/1.0'), { provider: 'example', evidence: 'ua' });
  assert.deepEqual(classifier.classify('192.0.2.1', 'ExampleSTS/1.0'), {
    provider: 'ranged',
    evidence: 'ip',
    claimed: 'example',
  });
});

test('data-file problems are all reported, each naming the file and the field', () => {
  const data = {
    providers: {
      google: { name: 'Google', user_agents: ['^Google-SMTP-STS', '(unclosed', '.*'], ranges: ['8.8.8.0/24', '1.2.3.400/8', 7] },
      Bad_Id: { name: 'Bad', user_agents: ['^x'], ranges: [] },
      empty: { name: '', user_agents: [], ranges: [], extra: true },
    },
  };
  assert.throws(
    () => ProviderClassifier.fromData(data, 'config/providers.yaml'),
    (error: Error) => {
      // V8 words regular-expression errors its own way; only the part we write is compared.
      const lines = error.message.split('\n').map((line) => line.replace(/(is not a regular expression): .*/, '$1'));
      assert.deepEqual(lines.sort(), [
        'config/providers.yaml providers.Bad_Id: provider id "Bad_Id" must be lowercase letters, digits and hyphens, starting with a letter',
        'config/providers.yaml providers.empty.extra: unknown key; allowed: name, user_agents, ranges, ptr_domains, spf',
        'config/providers.yaml providers.empty.name: the display name must not be empty',
        'config/providers.yaml providers.empty: needs user_agents, ranges, ptr_domains or spf; with none it can never match a fetch',
        'config/providers.yaml providers.google.ranges[1]: "1.2.3.400/8" is not a CIDR range: "1.2.3.400" is not an IP address',
        'config/providers.yaml providers.google.ranges[2]: 7 is not text; expected a CIDR range such as 192.0.2.0/24',
        'config/providers.yaml providers.google.user_agents[1]: "(unclosed" is not a regular expression',
        'config/providers.yaml providers.google.user_agents[2]: ".*" matches the empty string, so it would claim every fetch',
      ]);
      return true;
    },
  );
});

test('data-file structure errors', () => {
  const problems = (data: unknown) => {
    try {
      ProviderClassifier.fromData(data, 'p.yaml');
    } catch (error) {
      return (error as Error).message;
    }
    return 'no error';
  };
  assert.equal(problems(null), 'p.yaml (top level): null is not a mapping; expected one with providers');
  assert.equal(problems({ providers: [] }), 'p.yaml providers: expected a mapping of provider ids to providers');
  assert.equal(
    problems({ providers: { unknown: { name: 'U', user_agents: ['^U'], ranges: [] } } }),
    'p.yaml providers.unknown: provider id "unknown" is reserved for fetches that match no provider',
  );
  assert.equal(
    problems({ providers: { idle: { name: 'Idle', user_agents: [], ranges: [] } } }),
    'p.yaml providers.idle: needs user_agents, ranges, ptr_domains or spf; with none it can never match a fetch',
  );
  assert.equal(
    problems({ providers: { one: { name: 'One', user_agents: 'x', ranges: [] } } }),
    'p.yaml providers.one.user_agents: "x" is not a list; expected a list of regular expressions (write [] for none)',
  );
  assert.equal(
    problems({
      providers: {
        one: { name: 'One', user_agents: [], ranges: ['2001:db8::/32'] },
        two: { name: 'Two', user_agents: [], ranges: ['10.0.0.0/8', '2001:db8:0::/32'] },
      },
    }),
    'p.yaml providers.two.ranges[1]: "2001:db8:0::/32" is already listed under providers.one',
  );
  // Values in messages are cut and escaped, whatever their size.
  assert.equal(
    problems({ providers: { one: { name: 'One', user_agents: [], ranges: [`${'9'.repeat(1000)}\u001b/8`] } } }),
    `p.yaml providers.one.ranges[0]: "${'9'.repeat(80)}"…(+923) is not a CIDR range: "${'9'.repeat(80)}"…(+921) is not an IP address`,
  );
});

test('data-file errors for each kind of value a provider entry takes', () => {
  const problemsOf = (entry: Record<string, unknown>, id = 'one') => {
    try {
      ProviderClassifier.fromData(
        { providers: { [id]: { name: 'One', user_agents: ['^One/'], ranges: [], ...entry } } },
        'p.yaml',
      );
    } catch (error) {
      return (error as Error).message.split('\n');
    }
    return [];
  };
  assert.deepEqual(problemsOf({ user_agents: ['^One/', 5] }), [
    'p.yaml providers.one.user_agents[1]: 5 is not text; expected a regular expression such as ^Google-SMTP-STS',
  ]);
  assert.deepEqual(problemsOf({ name: 5 }), ['p.yaml providers.one.name: expected a display name']);
  assert.deepEqual(problemsOf({ ranges: '192.0.2.0/24' }), [
    'p.yaml providers.one.ranges: "192.0.2.0/24" is not a list; expected a list of CIDR ranges (write [] for none)',
  ]);
  assert.deepEqual(problemsOf({ ptr_domains: 'example.com' }), [
    'p.yaml providers.one.ptr_domains: "example.com" is not a list; expected a list of domains (write [] for none)',
  ]);
  assert.deepEqual(problemsOf({ ptr_domains: [7] }), [
    'p.yaml providers.one.ptr_domains[0]: expected a domain such as google.com',
  ]);
  // The whole name must be lower-case labels: an upper-case first label, a trailing dot, one label.
  for (const domain of ['Mail.example.com', 'example.com.', 'example']) {
    assert.deepEqual(problemsOf({ ptr_domains: [domain] }), [
      `p.yaml providers.one.ptr_domains[0]: "${domain}" is not a lower-case domain name`,
    ]);
  }
  assert.deepEqual(problemsOf({}, 'one!'), [
    'p.yaml providers.one!: provider id "one!" must be lowercase letters, digits and hyphens, starting with a letter',
  ]);
  assert.deepEqual(problemsOf({}, 'one-2'), []);
});

test('the provider ids in file order; an absent user agent claims nothing', () => {
  const classifier = ProviderClassifier.fromData(
    {
      providers: {
        zeta: { name: 'Zeta', user_agents: ['^Zeta/'], ranges: [] },
        alpha: { name: 'Alpha', user_agents: [], ranges: ['192.0.2.0/24'] },
      },
    },
    'test data',
  );
  assert.deepEqual(classifier.providerIds, ['zeta', 'alpha']);
  assert.deepEqual(classifier.classify('198.51.100.1', ''), { provider: 'unknown', evidence: 'none' });
});

test('fromFiles: a range listed in two files is reported with both file names', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'providers-test-'));
  try {
    const [first, second] = [join(dir, 'first.yaml'), join(dir, 'second.yaml')];
    await writeFile(first, "providers:\n  one: { name: One, user_agents: [], ranges: ['192.0.2.0/24'] }\n");
    await writeFile(second, "providers:\n  two: { name: Two, user_agents: [], ranges: ['192.0.2.0/24'] }\n");
    await assert.rejects(ProviderClassifier.fromFiles([first, second]), {
      message: `${first} + ${second} providers.two.ranges[0]: "192.0.2.0/24" is already listed under providers.one`,
    });
    // Two problems in one file: one located line each.
    const twice = join(dir, 'twice.yaml');
    await writeFile(twice, "providers:\n  x: { name: '', user_agents: [], ranges: [7] }\n");
    await assert.rejects(ProviderClassifier.fromFile(twice), {
      message: [
        `${twice}:2:14 providers.x.name: the display name must not be empty`,
        `${twice}:2:44 providers.x.ranges[0]: 7 is not text; expected a CIDR range such as 192.0.2.0/24`,
      ].join('\n'),
    });
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('fromFile names the file for unreadable and malformed files, and locates problems in it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'providers-test-'));
  try {
    const missing = join(dir, 'missing.yaml');
    await assert.rejects(ProviderClassifier.fromFile(missing), {
      message: `${missing}: cannot read the provider list: no such file`,
    });
    await assert.rejects(ProviderClassifier.fromFile(dir), {
      message: `${dir}: cannot read the provider list: it is a directory; give the path of the YAML file in it`,
    });
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'providers:\n  google: [unclosed\n');
    await assert.rejects(ProviderClassifier.fromFile(broken), {
      message: `${broken}:3:1 providers.google: unexpected end of the stream within a flow collection`,
    });
    const invalid = join(dir, 'invalid.yaml');
    await writeFile(invalid, "providers:\n  x:\n    name: X\n    user_agents: []\n    ranges: ['10.0.0.1/8']\n");
    await assert.rejects(ProviderClassifier.fromFile(invalid), {
      message: `${invalid}:5:14 providers.x.ranges[0]: "10.0.0.1/8" is not a CIDR range: the address has bits set beyond the /8 prefix`,
    });
    const bomb = join(dir, 'bomb.yaml');
    await writeFile(bomb, aliasBomb('providers'));
    await assert.rejects(ProviderClassifier.fromFile(bomb), (error: Error) => {
      assert.match(error.message, /^.*bomb\.yaml:\d+:\d+ .*aliases add more than 100,000 nodes in all/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('IpRangeTable: the longest matching prefix wins', () => {
  const table = new IpRangeTable<string>();
  table.add('10.0.0.0/8', 'wide');
  table.add('10.1.0.0/16', 'narrow');
  table.add('10.1.2.0/24', 'narrowest');
  assert.deepEqual(
    ['10.9.9.9', '10.1.9.9', '10.1.2.3', '11.0.0.0', '9.255.255.255'].map((ip) => table.lookup(ip)),
    ['wide', 'narrow', 'narrowest', undefined, undefined],
  );
});

test('IpRangeTable: insertion order does not matter', () => {
  const table = new IpRangeTable<string>();
  table.add('2001:db8:1::/48', 'narrow');
  table.add('2001:db8::/32', 'wide');
  assert.equal(table.lookup('2001:db8:1::5'), 'narrow');
  assert.equal(table.lookup('2001:db8:2::5'), 'wide');
});

test('IpRangeTable: /0 matches everything in its family only', () => {
  const table = new IpRangeTable<string>();
  table.add('0.0.0.0/0', 'any v4');
  assert.equal(table.lookup('255.255.255.255'), 'any v4');
  assert.equal(table.lookup('0.0.0.0'), 'any v4');
  assert.equal(table.lookup('::1'), undefined);
  table.add('::/0', 'any v6');
  assert.equal(table.lookup('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 'any v6');
  assert.equal(table.lookup('1.2.3.4'), 'any v4');
});

test('IpRangeTable: an answer given before a range is added is not given after it; many addresses are all answered right', () => {
  const table = new IpRangeTable<string>();
  table.add('10.0.0.0/8', 'wide');
  assert.deepEqual(
    [table.lookup('10.1.2.3'), table.lookup('192.0.2.1'), table.lookup('not an address')],
    ['wide', undefined, undefined],
  );
  table.add('10.1.0.0/16', 'narrow');
  table.add('192.0.2.0/24', 'documentation');
  assert.deepEqual(
    [table.lookup('10.1.2.3'), table.lookup('192.0.2.1'), table.lookup('not an address')],
    ['narrow', 'documentation', undefined],
  );
  // More addresses than the table remembers, twice over: the second round is answered as the first.
  const addresses = Array.from({ length: 10_000 }, (_, index) => `10.${index >> 8}.${index & 255}.1`);
  const first = addresses.map((ip) => table.lookup(ip));
  assert.deepEqual(
    addresses.map((ip) => table.lookup(ip)),
    first,
  );
  assert.equal(first.filter((value) => value === 'narrow').length, 256);
});

test('IpRangeTable: /32 and /128 match exactly one address', () => {
  const table = new IpRangeTable<string>();
  table.add('192.0.2.7/32', 'host4');
  table.add('2001:db8::7/128', 'host6');
  assert.deepEqual(
    ['192.0.2.7', '192.0.2.6', '192.0.2.8', '2001:db8::7', '2001:db8::6', '2001:db8::8'].map((ip) => table.lookup(ip)),
    ['host4', undefined, undefined, 'host6', undefined, undefined],
  );
});

test('IpRangeTable: IPv4 and IPv6 are separate, except IPv4-mapped addresses', () => {
  const table = new IpRangeTable<string>();
  // ::/96 covers the same leading bits as 0.0.0.0/0 would if families were mixed in one trie.
  table.add('::/96', 'v6');
  table.add('1.2.3.0/24', 'v4');
  assert.equal(table.lookup('::1.2.3.4'), 'v6');
  assert.equal(table.lookup('::ffff:1.2.3.4'), 'v4');
  assert.equal(table.lookup('::FFFF:1.2.3.4'), 'v4');
  assert.equal(table.lookup('::ffff:102:304'), 'v4');
  assert.equal(table.lookup('5.6.7.8'), undefined);
});

test('IpRangeTable: add returns the value it replaced for the same range', () => {
  const table = new IpRangeTable<string>();
  assert.equal(table.add('192.0.2.0/24', 'first'), undefined);
  assert.equal(table.add('192.0.2.0/25', 'other'), undefined);
  assert.equal(table.add('192.0.2.0/24', 'second'), 'first');
  assert.equal(table.lookup('192.0.2.200'), 'second');
});

test('IpRangeTable: lookup of text that is not an address finds nothing', () => {
  const table = new IpRangeTable<string>();
  table.add('0.0.0.0/0', 'all');
  assert.equal(table.lookup(''), undefined);
  assert.equal(table.lookup('not an ip'), undefined);
  assert.equal(table.lookup('1.2.3.4/32'), undefined);
});

test('IpRangeTable: invalid CIDR ranges throw, naming the range', () => {
  const table = new IpRangeTable<string>();
  const cases: [string, string][] = [
    ['1.2.3.400/8', '"1.2.3.400/8" is not a CIDR range: "1.2.3.400" is not an IP address'],
    ['10.0.0.0', '"10.0.0.0" is not a CIDR range: expected address/prefix-length, such as 192.0.2.0/24 or 2001:db8::/32'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8" is not a CIDR range: expected address/prefix-length, such as 192.0.2.0/24 or 2001:db8::/32'],
    ['10.0.0.0/33', '"10.0.0.0/33" is not a CIDR range: the prefix length must be a whole number from 0 to 32'],
    ['2001:db8::/129', '"2001:db8::/129" is not a CIDR range: the prefix length must be a whole number from 0 to 128'],
    ['10.0.0.0/', '"10.0.0.0/" is not a CIDR range: the prefix length must be a whole number from 0 to 32'],
    ['10.0.0.0/+8', '"10.0.0.0/+8" is not a CIDR range: the prefix length must be a whole number from 0 to 32'],
    ['10.0.0.1/8', '"10.0.0.1/8" is not a CIDR range: the address has bits set beyond the /8 prefix'],
    ['2001:db8::1/64', '"2001:db8::1/64" is not a CIDR range: the address has bits set beyond the /64 prefix'],
    ['fe80::%eth0/64', '"fe80::%eth0/64" is not a CIDR range: "fe80::%eth0" is not an IP address'],
    [
      '::ffff:1.2.3.0/120',
      '"::ffff:1.2.3.0/120" is not a CIDR range: IPv4-mapped IPv6 ranges are not supported; write the IPv4 range',
    ],
  ];
  for (const [cidr, message] of cases) assert.throws(() => table.add(cidr, 'x'), { message }, cidr);
});

test('IpRangeTable: longest prefix wins among many ranges', () => {
  const table = new IpRangeTable<number>();
  for (let i = 0; i < 65_536; i++) table.add(`10.${i >> 8}.${i & 255}.0/24`, i);
  assert.equal(table.lookup('10.255.255.1'), 65_535);
  assert.equal(table.lookup('10.18.52.9'), (18 << 8) | 52);
  table.add('10.18.52.128/25', -1);
  assert.equal(table.lookup('10.18.52.200'), -1);
  assert.equal(table.lookup('10.18.53.200'), (18 << 8) | 53);
});

test('normaliseIp', () => {
  const cases: [string, string][] = [
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4'],
    ['1.2.3.4', '1.2.3.4'],
    ['2001:DB8::1', '2001:db8::1'],
    ['::1', '::1'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['::ffff:0:1.2.3.4', '::ffff:0:1.2.3.4'],
    ['not an address', 'not an address'],
  ];
  for (const [input, expected] of cases) assert.equal(normaliseIp(input), expected, input);
});

test('ipBytes', () => {
  assert.deepEqual(ipBytes('192.0.2.1'), Uint8Array.of(192, 0, 2, 1));
  assert.deepEqual(ipBytes('::ffff:192.0.2.1'), Uint8Array.of(192, 0, 2, 1));
  assert.deepEqual(ipBytes('2001:db8::ff00:42'), Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42));
  assert.deepEqual(ipBytes('fe80::1%eth0'), Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(ipBytes('1::'), Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  assert.equal(ipBytes('1.2.3'), undefined);
});
