import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DnsLookup } from '../src/health/dns-lookup.js';
import { refreshProviders, type RefreshFile } from '../src/fetches/provider-refresh.js';
import { expandSpfRecords, MAX_DNS_TERMS } from '../src/fetches/spf-ranges.js';
import { parseServerAddress } from '../src/net/server-address.js';
import { TestDnsServer } from './support/dns-server.js';

// The SPF expander against a real DNS server on loopback: what each term becomes, and RFC 7208's
// limits against records that loop, ask too much, or claim too much.

let dns: TestDnsServer;
let lookup: DnsLookup;

before(async () => {
  dns = await TestDnsServer.start();
  lookup = new DnsLookup([parseServerAddress(`127.0.0.1:${dns.port}`)!], 500);
  dns.setTxt('_spf.mail.example', [
    'v=spf1 include:_v4.mail.example include:_v6.mail.example a:out.mail.example/28 mx:mail.example -all',
  ]);
  // An unrelated TXT value beside the SPF record is not an SPF record (RFC 7208 §4.5).
  dns.setTxt('_v4.mail.example', [
    'google-site-verification=abc',
    'v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 -ip4:198.51.100.8 ~all',
  ]);
  dns.setTxt('_v6.mail.example', ['v=spf1 ip6:2001:db8:1::/48 ip6:2001:DB8:2:0:0:0:0:0/64 -all']);
  dns.setA('out.mail.example', ['203.0.113.17']);
  dns.setAAAA('out.mail.example', ['2001:db8:5::1']);
  dns.setMx('mail.example', [{ priority: 10, exchange: 'mx1.mail.example' }]);
  dns.setA('mx1.mail.example', ['203.0.113.40']);
  dns.setTxt('redirected.example', ['v=spf1 ip4:192.0.2.200/32 redirect=_v4.mail.example']);
  dns.setTxt('loop-a.example', ['v=spf1 include:loop-b.example -all']);
  dns.setTxt('loop-b.example', ['v=spf1 ip4:192.0.2.1 include:loop-a.example -all']);
});

after(() => dns.close());

/** A chain of `length` records, each with one range and an include of the next. */
function includeChain(prefix: string, length: number): string {
  for (let index = 0; index < length; index++) {
    const next = index + 1 < length ? ` include:${prefix}${index + 1}.example` : '';
    dns.setTxt(`${prefix}${index}.example`, [`v=spf1 ip4:10.${index}.0.0/16${next} -all`]);
  }
  return `${prefix}0.example`;
}

test('include chains, ip4, ip6 and a/mx terms become ranges, each with the record that listed it', async () => {
  assert.deepEqual(await expandSpfRecords(['_spf.mail.example'], lookup), {
    ok: true,
    ranges: [
      { range: '192.0.2.0/24', record: '_v4.mail.example' },
      // A bare address is its /32; "-ip4" lists an address that must not send and is left out.
      { range: '198.51.100.7/32', record: '_v4.mail.example' },
      { range: '2001:db8:1::/48', record: '_v6.mail.example' },
      // IPv6 in one canonical spelling.
      { range: '2001:db8:2::/64', record: '_v6.mail.example' },
      // a:name/28: the A record's /28; its AAAA record's /128 (RFC 7208 §5.6 dual-cidr-length).
      { range: '203.0.113.16/28', record: '_spf.mail.example' },
      { range: '2001:db8:5::1/128', record: '_spf.mail.example' },
      { range: '203.0.113.40/32', record: '_spf.mail.example' },
    ],
    notes: [],
  });
});

test('redirect= is followed (RFC 7208 §6.1); with "all" in the record it is ignored', async () => {
  const redirected = await expandSpfRecords(['redirected.example'], lookup);
  assert.ok(redirected.ok);
  assert.deepEqual(
    redirected.ranges.map(({ range, record }) => `${range} ${record}`),
    ['192.0.2.200/32 redirected.example', '192.0.2.0/24 _v4.mail.example', '198.51.100.7/32 _v4.mail.example'],
  );
  dns.setTxt('redirect-with-all.example', ['v=spf1 ip4:192.0.2.9 -all redirect=_v4.mail.example']);
  const withAll = await expandSpfRecords(['redirect-with-all.example'], lookup);
  assert.deepEqual(withAll, { ok: true, ranges: [{ range: '192.0.2.9/32', record: 'redirect-with-all.example' }], notes: [] });
});

test('a loop of includes ends the expansion and names the loop', async () => {
  assert.deepEqual(await expandSpfRecords(['loop-a.example'], lookup), {
    ok: false,
    problem: 'loop: loop-a.example -> loop-b.example -> loop-a.example',
    notes: [],
  });
});

test('RFC 7208 §4.6.4: ten DNS-querying terms are allowed, the eleventh ends the expansion', async () => {
  const ten = await expandSpfRecords([includeChain('ten', MAX_DNS_TERMS + 1)], lookup);
  // The top record costs no term; its ten includes are the ten allowed.
  assert.ok(ten.ok, JSON.stringify(ten));
  assert.equal(ten.ranges.length, 11);
  const eleven = await expandSpfRecords([includeChain('eleven', MAX_DNS_TERMS + 2)], lookup);
  assert.deepEqual(eleven, {
    ok: false,
    problem: 'eleven10.example: more than 10 DNS-querying terms (RFC 7208 §4.6.4)',
    notes: [],
  });
  // The limit is per record tree: two records of ten terms each are fine.
  const both = await expandSpfRecords(['ten0.example', 'ten1.example'], lookup);
  assert.ok(both.ok);
});

test('RFC 7208 §4.6.4: two void lookups are allowed, the third ends the expansion', async () => {
  dns.setTxt('two-voids.example', ['v=spf1 a:gone1.example mx:gone2.example ip4:192.0.2.5 -all']);
  dns.setTxt('three-voids.example', ['v=spf1 a:gone1.example a:gone2.example a:gone3.example -all']);
  assert.deepEqual(await expandSpfRecords(['two-voids.example'], lookup), {
    ok: true,
    ranges: [{ range: '192.0.2.5/32', record: 'two-voids.example' }],
    notes: [],
  });
  assert.deepEqual(await expandSpfRecords(['three-voids.example'], lookup), {
    ok: false,
    problem: 'three-voids.example: more than 2 DNS lookups found nothing (RFC 7208 §4.6.4)',
    notes: [],
  });
});

test('+all and ranges wider than /8 (IPv4) or /24 (IPv6) are refused with a note; the rest is kept', async () => {
  dns.setTxt('greedy.example', ['v=spf1 ip4:0.0.0.0/1 ip6:2000::/3 ip4:192.0.2.0/24 ip4:10.0.0.0/8 ip6:2001:db8::/24 +all']);
  assert.deepEqual(await expandSpfRecords(['greedy.example'], lookup), {
    ok: true,
    ranges: [
      { range: '192.0.2.0/24', record: 'greedy.example' },
      { range: '10.0.0.0/8', record: 'greedy.example' },
      { range: '2001:d00::/24', record: 'greedy.example' },
    ],
    notes: [
      'greedy.example: "ip4:0.0.0.0/1" refused: wider than /8, it would claim too much of the internet',
      'greedy.example: "ip6:2000::/3" refused: wider than /24, it would claim too much of the internet',
      'greedy.example: "+all" refused: it would claim every address',
    ],
  });
  // "all" without a qualifier is "+all" too.
  dns.setTxt('bare-all.example', ['v=spf1 all']);
  assert.deepEqual(await expandSpfRecords(['bare-all.example'], lookup), {
    ok: true,
    ranges: [],
    notes: ['bare-all.example: "all" refused: it would claim every address'],
  });
});

test('macros, ptr and exists are skipped with a note: they name no fixed range', async () => {
  dns.setTxt('macros.example', [
    'v=spf1 include:%{d}._spf.example a:%{i}.in-addr.example ptr exists:%{i}.x.example ip4:192.0.2.77 -all',
  ]);
  assert.deepEqual(await expandSpfRecords(['macros.example'], lookup), {
    ok: true,
    ranges: [{ range: '192.0.2.77/32', record: 'macros.example' }],
    notes: [
      'macros.example: "%{d}._spf.example" skipped: macros depend on each message',
      'macros.example: "%{i}.in-addr.example" skipped: macros depend on each message',
      'macros.example: "ptr" skipped: it names no address range',
      'macros.example: "exists:%{i}.x.example" skipped: it names no address range',
    ],
  });
});

test('records that cannot be trusted: none, two, too long, unknown terms, odd names (escaped)', async () => {
  dns.setTxt('two-records.example', ['v=spf1 ip4:192.0.2.1 -all', 'v=spf1 ip4:192.0.2.2 -all']);
  dns.setTxt('long.example', [`v=spf1 ${Array.from({ length: 150 }, (_, index) => `ip4:10.0.${index}.0/24`).join(' ')} -all`]);
  dns.setTxt('unknown-term.example', ['v=spf1 ip4:192.0.2.1 frobnicate -all']);
  dns.setTxt('odd-name.example', ['v=spf1 include:evil\u001b[31m.example -all']);
  dns.setTxt('not-spf.example', ['hello']);
  const problems = [];
  for (const name of [
    'two-records.example',
    'long.example',
    'unknown-term.example',
    'odd-name.example',
    'not-spf.example',
    'absent.example',
  ]) {
    const expansion = await expandSpfRecords([name], lookup);
    assert.equal(expansion.ok, false, name);
    problems.push(!expansion.ok && expansion.problem);
  }
  assert.deepEqual(problems, [
    'two-records.example has 2 SPF records; RFC 7208 §4.5 allows one',
    'long.example: the SPF record is longer than 2047 characters',
    'unknown-term.example: unknown term "frobnicate"',
    'odd-name.example: "evil\\\\u001b[31m.example" is not a DNS name',
    'not-spf.example has no SPF record (no TXT value starts with v=spf1)',
    'absent.example has no TXT record',
  ]);
});

test('a server that does not answer: the expansion fails, and a refresh keeps the last good ranges', async () => {
  const previous: RefreshFile = {
    version: 1,
    providers: {
      mail: {
        refreshed_at: '2026-12-01T10:00:00.000Z',
        records: ['_spf.mail.example'],
        ranges: [{ range: '192.0.2.0/24', record: '_v4.mail.example' }],
        notes: [],
      },
    },
  };
  dns.setBlackHole(true);
  try {
    const started = Date.now();
    const outcome = await refreshProviders(
      [{ id: 'mail', records: ['_spf.mail.example'] }],
      lookup,
      previous,
      new Date('2026-12-02T10:00:00Z'),
    );
    assert.ok(Date.now() - started < 3_000);
    assert.deepEqual(outcome.file, previous);
    assert.deepEqual(
      outcome.results.map((result) => [result.ok, result.problem, result.current?.refreshed_at]),
      [[false, 'no DNS answer for _spf.mail.example within 500 ms', '2026-12-01T10:00:00.000Z']],
    );
  } finally {
    dns.setBlackHole(false);
  }
  dns.setFailure('servfail');
  try {
    const expansion = await expandSpfRecords(['_spf.mail.example'], lookup);
    assert.deepEqual(expansion, { ok: false, problem: 'the DNS query for _spf.mail.example failed (ESERVFAIL)', notes: [] });
  } finally {
    dns.setFailure(undefined);
  }
});

test('a refresh compares with the previous one: ranges added and removed, per provider', async () => {
  const previous: RefreshFile = {
    version: 1,
    providers: {
      mail: {
        refreshed_at: '2026-12-01T10:00:00.000Z',
        records: ['_spf.mail.example'],
        ranges: [
          { range: '192.0.2.0/24', record: '_v4.mail.example' },
          { range: '198.18.0.0/15', record: '_v4.mail.example' },
        ],
        notes: [],
      },
    },
  };
  const now = new Date('2026-12-02T10:00:00Z');
  const outcome = await refreshProviders(
    [
      { id: 'mail', records: ['_v4.mail.example'] },
      { id: 'other', records: ['two-voids.example'] },
    ],
    lookup,
    previous,
    now,
  );
  assert.deepEqual(
    outcome.results.map(({ id, ok, first, added, removed }) => ({ id, ok, first, added, removed })),
    [
      {
        id: 'mail',
        ok: true,
        first: false,
        added: [{ range: '198.51.100.7/32', record: '_v4.mail.example' }],
        removed: [{ range: '198.18.0.0/15', record: '_v4.mail.example' }],
      },
      { id: 'other', ok: true, first: true, added: [{ range: '192.0.2.5/32', record: 'two-voids.example' }], removed: [] },
    ],
  );
  assert.equal(outcome.file.providers.mail!.refreshed_at, now.toISOString());
});

test('terms read as RFC 7208 §4.6.1 writes them: case, spacing, exp=, terms after all, qualifiers, null MX, dual CIDR', async () => {
  dns.setTxt('spelling.example', [
    'v=spf1  IP4:192.0.2.9   exp=explain.example ?ip4:192.0.2.10 -a:out.mail.example -include:never.example mx:nullmx.example ~all ip4:192.0.2.11',
  ]);
  dns.setMx('nullmx.example', [{ priority: 0, exchange: '.' }]);
  dns.setTxt('bare.example', ['v=spf1']);
  dns.setTxt('spf10.example', ['v=spf10 ip4:192.0.2.12']);
  const spelling = await expandSpfRecords(['spelling.example'], lookup);
  // "?" and "-" terms name no sender; "~all" ends the record; the null MX names no host.
  assert.deepEqual(spelling, { ok: true, ranges: [{ range: '192.0.2.9/32', record: 'spelling.example' }], notes: [] });
  assert.deepEqual(await expandSpfRecords(['bare.example'], lookup), { ok: true, ranges: [], notes: [] });
  assert.deepEqual(await expandSpfRecords(['spf10.example'], lookup), {
    ok: false,
    problem: 'spf10.example has no SPF record (no TXT value starts with v=spf1)',
    notes: [],
  });
});

test('malformed terms end the expansion with the term named', async () => {
  const records: [string, string, string][] = [
    [
      'two-redirects.example',
      'v=spf1 redirect=a.example redirect=b.example',
      'two-redirects.example: more than one redirect= modifier',
    ],
    ['include-bare.example', 'v=spf1 include -all', 'include-bare.example: "include" names no domain'],
    ['include-empty.example', 'v=spf1 include: -all', 'include-empty.example: "include:" names no domain'],
    ['bad-a.example', 'v=spf1 a:out.mail.example/24x -all', 'bad-a.example: "a:out.mail.example/24x" is not a valid a term'],
    ['bad-mx.example', 'v=spf1 mx//2x -all', 'bad-mx.example: "mx//2x" is not a valid mx term'],
    [
      'ip4-slashes.example',
      'v=spf1 ip4:192.0.2.0/24/8 -all',
      'ip4-slashes.example: "ip4:192.0.2.0/24/8" is not a valid address range',
    ],
    ['ip4-family.example', 'v=spf1 ip4:2001:db8::1 -all', 'ip4-family.example: "ip4:2001:db8::1" is not a valid address range'],
    ['ip4-prefix.example', 'v=spf1 ip4:192.0.2.0/2x -all', 'ip4-prefix.example: "ip4:192.0.2.0/2x" is not a valid address range'],
    [
      'ip6-prefix.example',
      'v=spf1 ip6:2001:db8::/129 -all',
      'ip6-prefix.example: "ip6:2001:db8::/129" is not a valid address range',
    ],
    ['reach.example', 'v=spf1 include:missing.example -all', 'missing.example has no TXT record (reached by reach.example)'],
    ['many-mx.example', 'v=spf1 mx -all', 'many-mx.example has 11 MX records; RFC 7208 §4.6.4 allows 10 for an mx term'],
  ];
  dns.setMx(
    'many-mx.example',
    Array.from({ length: 11 }, (_, index) => ({ priority: index, exchange: `mx${index}.many-mx.example` })),
  );
  const problems = [];
  for (const [name, record] of records) {
    dns.setTxt(name, [record]);
    const expansion = await expandSpfRecords([name], lookup);
    problems.push(expansion.ok ? 'ok' : expansion.problem);
  }
  assert.deepEqual(
    problems,
    records.map(([, , problem]) => problem),
  );
});

test("DNS names up to 253 characters; at most 2 000 ranges over all of a provider's records", async () => {
  const label = 'a'.repeat(61);
  const longest = `${label}.${label}.${label}.${'b'.repeat(61)}`;
  assert.equal(longest.length, 247);
  const at253 = `${'c'.repeat(5)}.${longest}`;
  const at254 = `${'c'.repeat(6)}.${longest}`;
  dns.setTxt(at253, ['v=spf1 ip4:192.0.2.13 -all']);
  assert.deepEqual(await expandSpfRecords([at253], lookup), {
    ok: true,
    ranges: [{ range: '192.0.2.13/32', record: at253 }],
    notes: [],
  });
  const tooLong = await expandSpfRecords([at254], lookup);
  // The name is cut to a readable length in the message.
  assert.match(tooLong.ok ? 'ok' : tooLong.problem, /^"cccccc\.a{61}\.a+…\(\+\d+\)" is not a DNS name$/);

  // 20 records of 100 ranges: 2 000 in all, the most a provider may have; one more range is refused.
  const names = Array.from({ length: 20 }, (_, record) => {
    const name = `bulk${record}.example`;
    dns.setTxt(name, [`v=spf1 ${Array.from({ length: 100 }, (__, index) => `ip4:10.${record}.${index}.0/24`).join(' ')} -all`]);
    return name;
  });
  const full = await expandSpfRecords(names, lookup);
  assert.equal(full.ok ? full.ranges.length : full.problem, 2_000);
  dns.setTxt('bulk-one-more.example', ['v=spf1 ip4:10.200.0.0/24 -all']);
  assert.deepEqual(await expandSpfRecords([...names, 'bulk-one-more.example'], lookup), {
    ok: false,
    problem: 'more than 2000 ranges; refused as implausible for one provider',
    notes: [],
  });
});
