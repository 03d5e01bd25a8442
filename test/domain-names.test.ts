import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dnsNameCovers } from '../src/policy/dns-name.js';
import { isAddressLiteral, normaliseDomainName } from '../src/policy/domain-name.js';
import { diffPolicySets, isEmptyDiff } from '../src/policy/policy-diff.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { parseMxPattern } from '../src/policy/mx-pattern.js';

// The reasons below are what check-config and serve print after the located field path.
const reasonFor = (input: string) => {
  const checked = normaliseDomainName(input);
  return checked.ok ? `ok ${checked.name}` : checked.reason;
};

const label = (length: number) => 'a'.repeat(length);

test('domain names: the wire form, or the reason an admin reads after the field path', () => {
  const cases: [string, string][] = [
    [' Mail.Example.COM. ', 'ok mail.example.com'],
    ['München.DE', 'ok xn--mnchen-3ya.de'],
    ['bücher.example', 'ok xn--bcher-kva.example'],
    ['a-b.1x.example', 'ok a-b.1x.example'],
    ['', 'is empty'],
    ['  ', 'is empty'],
    ['.', 'is empty'],
    ['192.0.2.1', 'is an IP address, not a domain name'],
    ['[192.0.2.1]', 'is an IP address, not a domain name'],
    ['[IPv6:2001:db8::1]', 'is an IP address, not a domain name'],
    ['2001:db8::1', 'is an IP address, not a domain name'],
    ['xn--iñvalid.com', 'is not a valid internationalised domain name'],
    ['example', 'needs at least two labels (e.g. example.com)'],
    [`${label(63)}.example`, `ok ${label(63)}.example`],
    [`${label(64)}.example`, 'has a label longer than 63 characters'],
    [`${[label(63), label(63), label(63), label(61)].join('.')}`, `ok ${[label(63), label(63), label(63), label(61)].join('.')}`],
    [`${[label(63), label(63), label(63), label(62)].join('.')}`, 'is longer than 253 characters'],
    // Past four times the limit the name is refused before IDN mapping ever sees it.
    [`${label(1100)}.example`, 'is longer than 253 characters'],
    ['-mail.example.com', 'may only contain letters, digits and inner hyphens in each dot-separated label'],
    ['mail-.example.com', 'may only contain letters, digits and inner hyphens in each dot-separated label'],
    ['mail_1.example.com', 'may only contain letters, digits and inner hyphens in each dot-separated label'],
    ['mail..example.com', 'may only contain letters, digits and inner hyphens in each dot-separated label'],
    ['10.0.0.1.5', 'ends in an all-numeric label, so it is an address, not a domain name'],
    ['example.123', 'ends in an all-numeric label, so it is an address, not a domain name'],
    ['123.example', 'ok 123.example'],
    ['mail.123.example', 'ok mail.123.example'],
    ['mail.example.123', 'ends in an all-numeric label, so it is an address, not a domain name'],
    ['mail.example.a1', 'ok mail.example.a1'],
    ['mail.example.1a', 'ok mail.example.1a'],
  ];
  for (const [input, expected] of cases) assert.equal(reasonFor(input), expected, JSON.stringify(input.slice(0, 80)));
});

test('domain names: a name written in wire form gets the answer the step-by-step checks give', () => {
  // A leading space takes a name past the one-match shortcut for names already in wire form,
  // through trimming and every check in turn.
  const stepByStep = (input: string) => reasonFor(` ${input}`);
  const pieces = [
    'a',
    'z',
    '0',
    '9',
    '-',
    '.',
    'mail',
    'example',
    'com',
    '123',
    'xn--bcher-kva',
    label(61),
    label(62),
    label(63),
  ];
  let seed = 14;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const inputs = [
    `${[label(63), label(63), label(63), label(61)].join('.')}`,
    `${[label(63), label(63), label(63), label(62)].join('.')}`,
  ];
  for (let i = 0; i < 20_000; i++) {
    const count = 1 + Math.floor(next() * 8);
    inputs.push(Array.from({ length: count }, () => pieces[Math.floor(next() * pieces.length)]).join(next() < 0.7 ? '.' : ''));
  }
  for (const input of inputs) assert.equal(reasonFor(input), stepByStep(input), JSON.stringify(input));
  assert.ok(inputs.filter((input) => reasonFor(input).startsWith('ok')).length > 2_000, 'enough valid names among the inputs');
});

test('address literals: bare or bracketed IPv4 and IPv6, never a name', () => {
  for (const text of ['192.0.2.1', '[192.0.2.1]', '2001:db8::1', '[IPv6:2001:db8::1]', '[ipv6:::1]', '::ffff:192.0.2.1']) {
    assert.equal(isAddressLiteral(text), true, text);
  }
  for (const text of [
    'mail.example.com',
    '[mail.example.com]',
    '1.2.3',
    '192.0.2.1.example',
    '[192.0.2.1',
    'x[192.0.2.1]',
    'a:[192.0.2.1]',
    '[192.0.2.1]x',
  ]) {
    assert.equal(isAddressLiteral(text), false, text);
  }
});

test('mx patterns: an address (even with a trailing dot) is refused with the RFC 8461 §4.1 reason', () => {
  const reasonOf = (input: string) => {
    const parsed = parseMxPattern(input);
    return parsed.ok
      ? `ok ${parsed.pattern.text} wildcard=${parsed.pattern.wildcard} base=${parsed.pattern.base}`
      : parsed.reason;
  };
  const address = 'is an IP address; RFC 8461 §4.1 matches MX host names, so list the name your MX record points at';
  assert.equal(reasonOf('192.0.2.25.'), address);
  assert.equal(reasonOf('*.192.0.2.25'), address);
  assert.equal(reasonOf('[IPv6:2001:db8::25]'), address);
  assert.equal(reasonOf(' *.Mail.Example.com. '), 'ok *.mail.example.com wildcard=true base=mail.example.com');
  assert.equal(reasonOf('mail.example.com'), 'ok mail.example.com wildcard=false base=mail.example.com');
  assert.equal(reasonOf('*.example'), 'needs at least two labels (e.g. example.com)');
  assert.equal(reasonOf('*mail.example.com'), 'may use "*" only as the whole left-most label, as in "*.mail.example.com"');
});

test('a wildcard (mx pattern or certificate name) needs a non-empty left-most label', () => {
  assert.equal(dnsNameCovers('*.mail.example.com', '.mail.example.com'), false);
  assert.equal(dnsNameCovers('*.mail.example.com', 'mx.mail.example.com'), true);
  assert.equal(dnsNameCovers('*.mail.example.com', 'mx.other.example.com'), false);
});

test('policy set: its hosts and size; a reload that only adds and removes a domain is not empty', () => {
  const domain = (name: string) => ({ name, policy: { mode: 'none' as const, mx: [], maxAge: 86400 }, tlsRptRua: [] });
  const before = new PolicySet([domain('a.example'), domain('b.example')]);
  assert.deepEqual(before.hosts, ['mta-sts.a.example', 'mta-sts.b.example']);
  assert.equal(before.size, 2);
  const after = new PolicySet([domain('a.example'), domain('c.example')]);
  assert.equal(isEmptyDiff(diffPolicySets(before, after)), false);
  assert.equal(isEmptyDiff(diffPolicySets(before, before)), true);
  const changedAndRemoved = diffPolicySets(
    before,
    new PolicySet([{ ...domain('a.example'), policy: { mode: 'none', mx: [], maxAge: 1 } }]),
  );
  assert.equal(isEmptyDiff(changedAndRemoved), false);
  const removedOnly = diffPolicySets(before, new PolicySet([domain('a.example')]));
  assert.equal(isEmptyDiff(removedOnly), false);
  assert.equal(isEmptyDiff(diffPolicySets(new PolicySet([domain('a.example')]), before)), false);
});

test('reload summary: a change of the mx alone names no mode or max_age change', () => {
  const example = (mx: string[]) => {
    const patterns = mx.map((text) => {
      const parsed = parseMxPattern(text);
      assert.ok(parsed.ok);
      return parsed.pattern;
    });
    return new PolicySet([{ name: 'example.com', policy: { mode: 'enforce', mx: patterns, maxAge: 86400 }, tlsRptRua: [] }]);
  };
  const after = example(['mx2.example.com']);
  assert.deepEqual(diffPolicySets(example(['mx1.example.com']), after).changed, [
    {
      domain: 'example.com',
      mx_added: ['mx2.example.com'],
      mx_removed: ['mx1.example.com'],
      policy_id: after.forHost('mta-sts.example.com')!.id,
    },
  ]);
});
