import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatZoneLine, recordsToPublish } from '../src/dns/records.js';
import { diffPolicySets } from '../src/policy/policy-diff.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { dnsNameCovers } from '../src/policy/dns-name.js';
import { parseMxPattern, type MxPattern } from '../src/policy/mx-pattern.js';
import { policyIdOf, renderPolicy, type DomainPolicy, type StsPolicy } from '../src/policy/policy.js';

const mx = (text: string): MxPattern => {
  const parsed = parseMxPattern(text);
  assert.ok(parsed.ok, text);
  return parsed.pattern;
};

const policy = (mode: StsPolicy['mode'], patterns: string[], maxAge = 604800): StsPolicy => ({
  mode,
  mx: patterns.map(mx),
  maxAge,
});

const domain = (name: string, p: StsPolicy, tlsRptRua: string[] = []): DomainPolicy => ({ name, policy: p, tlsRptRua });

test('the policy body: version first, CRLF after every line, mx in config order', () => {
  assert.equal(
    renderPolicy(policy('enforce', ['mail.example.com', '*.mail.protection.outlook.com'], 1209600)),
    'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 1209600\r\n',
  );
  assert.equal(renderPolicy(policy('none', [], 86400)), 'version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n');
});

test('policy id: 1-32 letters and digits, stable for the same policy, new for any change', () => {
  const base = renderPolicy(policy('testing', ['a.example.com', 'b.example.com']));
  const id = policyIdOf(base);
  assert.match(id, /^[A-Za-z0-9]{1,32}$/);
  assert.equal(policyIdOf(renderPolicy(policy('testing', ['a.example.com', 'b.example.com']))), id);
  const variants = [
    policy('enforce', ['a.example.com', 'b.example.com']),
    policy('testing', ['b.example.com', 'a.example.com']),
    policy('testing', ['a.example.com']),
    policy('testing', ['a.example.com', 'b.example.com'], 604801),
  ];
  const ids = new Set([id, ...variants.map((variant) => policyIdOf(renderPolicy(variant)))]);
  assert.equal(ids.size, 5);
});

test('mx patterns: a wildcard matches exactly one left-most label', () => {
  const wildcard = mx('*.mail.example.com');
  assert.equal(dnsNameCovers(wildcard.text, 'mx1.mail.example.com'), true);
  assert.equal(dnsNameCovers(wildcard.text, 'mail.example.com'), false);
  assert.equal(dnsNameCovers(wildcard.text, 'a.b.mail.example.com'), false);
  assert.equal(dnsNameCovers(wildcard.text, 'mx1.mail.example.com.evil'), false);
  const plain = mx('Mail.Example.com.');
  assert.equal(plain.text, 'mail.example.com');
  assert.equal(dnsNameCovers(plain.text, 'mail.example.com'), true);
  assert.equal(dnsNameCovers(plain.text, 'x.mail.example.com'), false);
  assert.equal(mx('*.bücher.example').text, '*.xn--bcher-kva.example');
});

test('policy set: Host lookup ignores case, port and a trailing dot; other hosts get nothing', () => {
  const set = new PolicySet([domain('example.com', policy('none', []))]);
  for (const host of [
    'mta-sts.example.com',
    'MTA-STS.Example.COM',
    'mta-sts.example.com:443',
    'mta-sts.example.com.',
    'mta-sts.example.com.:8443',
  ]) {
    assert.equal(set.forHost(host)?.domain, 'example.com', host);
  }
  for (const host of ['example.com', 'www.example.com', 'mta-sts.example.org', '[::1]:443', '127.0.0.1', '']) {
    assert.equal(set.forHost(host), undefined, host);
  }
});

test('diff: added, removed and changed domains with the TXT records to publish', () => {
  const before = new PolicySet([
    domain('a.example', policy('testing', ['mx1.a.example', 'mx2.a.example'])),
    domain('b.example', policy('none', [])),
    domain('c.example', policy('enforce', ['mx.c.example'])),
  ]);
  const after = new PolicySet([
    domain('a.example', policy('enforce', ['mx1.a.example', 'mx3.a.example'], 86400)),
    domain('c.example', policy('enforce', ['mx.c.example'])),
    domain('d.example', policy('none', [])),
  ]);
  const diff = diffPolicySets(before, after);
  const idOf = (set: PolicySet, name: string) => set.forHost(`mta-sts.${name}`)!.id;
  assert.deepEqual(diff, {
    domains_added: ['d.example'],
    domains_removed: ['b.example'],
    changed: [
      {
        domain: 'a.example',
        mode: { from: 'testing', to: 'enforce' },
        max_age: { from: 604800, to: 86400 },
        mx_added: ['mx3.a.example'],
        mx_removed: ['mx2.a.example'],
        policy_id: idOf(after, 'a.example'),
      },
    ],
    publish: [
      { domain: 'a.example', policy_id: idOf(after, 'a.example') },
      { domain: 'd.example', policy_id: idOf(after, 'd.example') },
    ],
  });
});

test('DNS records: TXT for _mta-sts and _smtp._tls, the policy host address or CNAME', () => {
  const set = new PolicySet([
    domain('example.com', policy('enforce', ['mail.example.com']), ['mailto:tls@example.com', 'https://r.example.com/x']),
  ]);
  const served = set.forHost('mta-sts.example.com')!;
  const lines = recordsToPublish(served, { ipv4: '192.0.2.10', ipv6: '2001:db8::10' }).map(formatZoneLine);
  assert.deepEqual(lines, [
    'mta-sts.example.com.                     3600 IN A     192.0.2.10',
    'mta-sts.example.com.                     3600 IN AAAA  2001:db8::10',
    `_mta-sts.example.com.                    3600 IN TXT   "v=STSv1; id=${served.id}"`,
    '_smtp._tls.example.com.                  3600 IN TXT   "v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/x"',
  ]);
  assert.deepEqual(recordsToPublish(served, { cname: 'host.provider.example' })[0], {
    name: 'mta-sts.example.com.',
    type: 'CNAME',
    value: 'host.provider.example.',
  });
});
