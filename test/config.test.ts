import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open as openFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfigFile, parseConfigText } from '../src/config/load.js';
import { formatPath, quote } from '../src/text/quote.js';
import { aliasBomb } from './support/yaml-inputs.js';
import { writeTestConfig } from './support/service.js';

const errorsOf = (yaml: string): string[] => {
  const result = parseConfigText(yaml, 'mta-sts.yaml');
  assert.equal(result.ok, false, 'expected the config to be rejected');
  return result.ok ? [] : result.errors;
};

const accepted = (yaml: string) => {
  const result = parseConfigText(yaml, 'mta-sts.yaml');
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return result;
};

test('invalid files: every problem located by file:line:column and field path, in file order', () => {
  const cases: [string, string, string[]][] = [
    [
      'max_age above one year',
      'domains:\n  example.com:\n    mx: [mail.example.com]\n    max_age: 40000000\n',
      ['mta-sts.yaml:4:14 domains.example.com.max_age: 40000000 is above 31557600 (one year)'],
    ],
    [
      'negative and fractional max_age',
      'defaults: { max_age: -1 }\ndomains:\n  example.com: { mx: [a.example.com], max_age: 1.5 }\n',
      [
        'mta-sts.yaml:1:22 defaults.max_age: -1 is below 0',
        'mta-sts.yaml:3:48 domains.example.com.max_age: 1.5 is not a whole number of seconds',
      ],
    ],
    [
      'max_age given as text',
      'domains:\n  example.com: { mx: [a.example.com], max_age: "86400" }\n',
      ['mta-sts.yaml:2:48 domains.example.com.max_age: "86400" is not a number of seconds (0 to 31557600)'],
    ],
    [
      'unknown mode',
      'domains:\n  example.com:\n    mode: enforced\n    mx: [mail.example.com]\n',
      ['mta-sts.yaml:3:11 domains.example.com.mode: "enforced" is not a mode; allowed: enforce, testing, none'],
    ],
    [
      'typo in a key',
      'domains:\n  example.com:\n    nmx: [mail.example.com]\n    mode: none\n',
      ['mta-sts.yaml:3:5 domains.example.com.nmx: unknown key; did you mean mx?'],
    ],
    [
      'a typo of a top-level key is the typo alone, not also the key it meant as missing',
      'domain:\n  example.com: { mode: none }\n',
      ['mta-sts.yaml:1:1 domain: unknown key; did you mean domains?'],
    ],
    [
      'an unknown key with nothing close: the allowed keys',
      'domains:\n  example.com: { mode: none }\nfrobnicate: true\n',
      [
        'mta-sts.yaml:3:1 frobnicate: unknown key; allowed: defaults, domains, listen, tls, state_dir, trust_proxy, log, admin, providers_file, providers, reverse_dns, statistics, reports, retire_removed_domains, health',
      ],
    ],
    [
      'mx required unless mode none',
      'domains:\n  example.com: { mode: enforce }\n  example.org: { mode: testing, mx: [] }\n  example.net: { mode: none }\n',
      [
        'mta-sts.yaml:2:3 domains.example.com: mode enforce needs at least one mx pattern (mx: [mail.example.com]); only mode none may leave it out',
        'mta-sts.yaml:3:37 domains.example.org.mx: mode testing needs at least one mx pattern (mx: [mail.example.org]); only mode none may leave it out',
      ],
    ],
    [
      'wildcards only as the whole left-most label',
      'domains:\n  example.com:\n    mx: ["mx*.example.com", "mail.*.example.com", "*.*.example.com", "*.example.com"]\n',
      [
        'mta-sts.yaml:3:10 domains.example.com.mx[0]: "mx*.example.com" may use "*" only as the whole left-most label, as in "*.mail.example.com"',
        'mta-sts.yaml:3:29 domains.example.com.mx[1]: "mail.*.example.com" may use "*" only as the whole left-most label, as in "*.mail.example.com"',
        'mta-sts.yaml:3:51 domains.example.com.mx[2]: "*.*.example.com" may use "*" only as the whole left-most label, as in "*.mail.example.com"',
      ],
    ],
    [
      'invalid host names',
      'domains:\n  example.com:\n    mx: [mail_1.example.com, localhost, "-a.example.com", "x@y.com"]\n',
      [
        'mta-sts.yaml:3:10 domains.example.com.mx[0]: "mail_1.example.com" may only contain letters, digits and inner hyphens in each dot-separated label',
        'mta-sts.yaml:3:30 domains.example.com.mx[1]: "localhost" needs at least two labels (e.g. example.com)',
        'mta-sts.yaml:3:41 domains.example.com.mx[2]: "-a.example.com" may only contain letters, digits and inner hyphens in each dot-separated label',
        'mta-sts.yaml:3:59 domains.example.com.mx[3]: "x@y.com" may only contain letters, digits and inner hyphens in each dot-separated label',
      ],
    ],
    [
      'a label longer than 63 characters',
      `domains:\n  example.com: { mx: [${'a'.repeat(64)}.example.com] }\n`,
      [`mta-sts.yaml:2:23 domains.example.com.mx[0]: "${'a'.repeat(64)}.example.com" has a label longer than 63 characters`],
    ],
    [
      'duplicate domains, literally and after normalisation',
      'domains:\n  example.com: { mode: none }\n  Example.COM.: { mode: none }\n  example.com: { mode: none }\n',
      [
        'mta-sts.yaml:3:3 domains.Example.COM.: duplicate domain: "Example.COM." is the same domain as "example.com"',
        'mta-sts.yaml:4:3 domains.example.com: duplicate key; each key may appear only once in a mapping',
      ],
    ],
    [
      'an invalid domain name',
      'domains:\n  "bad_name.example": { mode: none }\n',
      [
        'mta-sts.yaml:2:3 domains.bad_name.example: domain name "bad_name.example" may only contain letters, digits and inner hyphens in each dot-separated label',
      ],
    ],
    [
      'listener, tls, trust_proxy and log settings',
      'domains: { example.com: { mode: none } }\nlisten: { address: localhost, https: 70000 }\ntls: { source: acmee }\ntrust_proxy: [10.0.0.1/8, 10.0.0.0/8]\nlog: { level: loud }\n',
      [
        'mta-sts.yaml:2:20 listen.address: "localhost" is not an IP address; use "::" for all IPv6 and IPv4 addresses',
        'mta-sts.yaml:2:38 listen.https: 70000 is not a port number (0 to 65535)',
        'mta-sts.yaml:3:16 tls.source: source "acmee" is not supported; allowed: self-signed, files, acme',
        'mta-sts.yaml:4:15 trust_proxy[0]: "10.0.0.1/8" is not an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8 (no host bits after the prefix)',
        'mta-sts.yaml:5:15 log.level: "loud" is not a log level; allowed: fatal, error, warn, info, debug, trace, silent',
      ],
    ],
    [
      'files source without certificates',
      'domains: { example.com: { mode: none } }\ntls: { source: files, certificates: [] }\n',
      ['mta-sts.yaml:2:37 tls.certificates: needs at least one {cert, key} pair'],
    ],
    [
      'TLS-RPT report addresses',
      'defaults: { tlsrpt: { rua: ["tls@example.com", "https://reports.example.com/tlsrpt", "http://x.example"] } }\ndomains: { example.com: { mode: none } }\n',
      [
        'mta-sts.yaml:1:29 defaults.tlsrpt.rua[0]: "tls@example.com" is not a report address; allowed: mailto:user@example.com or https://...',
        'mta-sts.yaml:1:86 defaults.tlsrpt.rua[2]: "http://x.example" is not a report address; allowed: mailto:user@example.com or https://...',
      ],
    ],
    [
      'YAML syntax error',
      'domains:\n  example.com: { mx: [a.example.com\n',
      ['mta-sts.yaml:3:1 domains.example.com.mx: unexpected end of the stream within a flow collection'],
    ],
    [
      'an empty file',
      '',
      ['mta-sts.yaml:1:1 domains: expected a mapping of domain names, e.g. "example.com: { mx: [mail.example.com] }"'],
    ],
  ];
  for (const [name, yaml, expected] of cases) {
    assert.deepEqual(errorsOf(yaml), expected, name);
  }
});

test('a config is normalised: lower case, IDN as A-labels, defaults inherited, mx order kept', () => {
  const result = accepted(
    'defaults: { mode: enforce, max_age: 1209600, tlsrpt: { rua: ["mailto:tls@example.com"] } }\n' +
      'domains:\n' +
      '  Bücher.Example: { mx: ["MX2.bücher.example", "*.Mail.Protection.Outlook.com."] }\n' +
      '  example.org: { mode: testing, max_age: 86400, mx: [mx1.example.org], tlsrpt: { rua: ["https://r.example.org/v1"] } }\n',
  );
  assert.deepEqual(
    result.config.domains.map((domain) => ({
      name: domain.name,
      mode: domain.policy.mode,
      mx: domain.policy.mx.map((pattern) => pattern.text),
      maxAge: domain.policy.maxAge,
      rua: domain.tlsRptRua,
    })),
    [
      {
        name: 'xn--bcher-kva.example',
        mode: 'enforce',
        mx: ['mx2.xn--bcher-kva.example', '*.mail.protection.outlook.com'],
        maxAge: 1209600,
        rua: ['mailto:tls@example.com'],
      },
      { name: 'example.org', mode: 'testing', mx: ['mx1.example.org'], maxAge: 86400, rua: ['https://r.example.org/v1'] },
    ],
  );
  assert.deepEqual(result.warnings, []);
});

test('defaults apply when a section is left out', () => {
  const { config } = accepted('domains:\n  example.com: { mx: [mail.example.com] }\n');
  assert.equal(config.domains[0]!.policy.mode, 'testing');
  assert.equal(config.domains[0]!.policy.maxAge, 604800);
  assert.deepEqual(config.listen, { address: '::', https: 443, http: 80 });
  assert.deepEqual(config.tls, { source: 'self-signed' });
  assert.equal(config.stateDir, '/var/lib/mta-sts');
  assert.deepEqual(config.trustProxy, []);
  assert.equal(config.logLevel, 'info');
  assert.deepEqual(config.admin, { enabled: true, address: '127.0.0.1', port: 9464 });
  assert.deepEqual(config.reverseDns, { enabled: true, servers: [], timeout_ms: 2000 });
  assert.deepEqual(config.statistics, { enabled: true, retention_days: 400, flush_interval_s: 10 });
});

test('statistics settings: whole numbers in range, with the range in the message', () => {
  const result = parseConfigText(
    'domains:\n  example.com: { mx: [mail.example.com] }\nstatistics: { retention_days: 0, flush_interval_s: 2.5 }\n',
    'mta-sts.yaml',
  );
  assert.deepEqual(result.ok ? [] : result.errors, [
    'mta-sts.yaml:3:31 statistics.retention_days: 0 is too small; allowed: 1 to 3660 days',
    'mta-sts.yaml:3:52 statistics.flush_interval_s: 2.5 is not a whole number; allowed: 1 to 300 seconds',
  ]);
});

test('max_age: 31557600 (one year, RFC 8461 §3.2) is the largest allowed, 31557601 is rejected', () => {
  assert.equal(accepted('domains:\n  a.example: { mode: none, max_age: 31557600 }\n').config.domains[0]!.policy.maxAge, 31557600);
  assert.deepEqual(errorsOf('domains:\n  a.example: { mode: none, max_age: 31557601 }\n'), [
    'mta-sts.yaml:2:37 domains.a.example.max_age: 31557601 is above 31557600 (one year)',
  ]);
});

test('limits: max_age 0 and 31557600 are allowed; enforce below one day is a located warning', () => {
  const { config, warnings } = accepted(
    'domains:\n  a.example: { mode: none, max_age: 0 }\n  b.example: { mx: [m.b.example], max_age: 31557600 }\n  c.example: { mode: enforce, mx: [m.c.example], max_age: 3600 }\n',
  );
  assert.deepEqual(
    config.domains.map((domain) => domain.policy.maxAge),
    [0, 31557600, 3600],
  );
  assert.deepEqual(warnings, [
    'mta-sts.yaml:4:59 domains.c.example.max_age: max_age 3600 is below 86400 (one day) for enforced domain c.example; senders will re-fetch often and an attacker who blocks the fetch can strip TLS sooner',
  ]);
});

test('relative paths are resolved against the config file folder', async () => {
  const example = fileURLToPath(new URL('../../config/example.yaml', import.meta.url));
  const result = await loadConfigFile(example);
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  assert.equal(result.config.stateDir, fileURLToPath(new URL('../../.local-state', import.meta.url)));
  assert.deepEqual(
    result.config.domains.map((domain) => domain.name),
    ['example.com', 'example.org', 'example.net'],
  );
});

test('a missing file is one clear error', async () => {
  const result = await loadConfigFile('/nonexistent/mta-sts.yaml');
  assert.deepEqual(result, { ok: false, errors: ['/nonexistent/mta-sts.yaml: cannot read the config file: no such file'] });
});

test('10 000 domains with a duplicate at the end: found and located', () => {
  const lines = ['domains:'];
  for (let i = 0; i < 10_000; i++) lines.push(`  d${i}.example: { mx: [mx.d${i}.example] }`);
  lines.push('  d7.example: { mode: none }');
  assert.deepEqual(errorsOf(lines.join('\n') + '\n'), [
    'mta-sts.yaml:10002:3 domains.d7.example: duplicate key; each key may appear only once in a mapping',
  ]);
});

test('the unquoted wildcard MX: a located error with the fix, in flow and block lists and as a single value', () => {
  const hint =
    'an unquoted "*" starts a YAML alias, and there is no anchor &.mail.protection.outlook.com; quote wildcard names: "*.mail.protection.outlook.com"';
  assert.deepEqual(errorsOf('domains:\n  example.com:\n    mx: [mail.example.com, *.mail.protection.outlook.com]\n'), [
    `mta-sts.yaml:3:28 domains.example.com.mx[1]: ${hint}`,
  ]);
  assert.deepEqual(
    errorsOf('domains:\n  example.com:\n    mx:\n      - mail.example.com\n      - *.mail.protection.outlook.com\n'),
    [`mta-sts.yaml:5:9 domains.example.com.mx[1]: ${hint}`],
  );
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: enforce, mx: *.mail.protection.outlook.com }\n'), [
    `mta-sts.yaml:2:37 domains.example.com.mx: ${hint}`,
  ]);
  // An alias that is not a wildcard gets no wildcard advice.
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: *enforce }\n'), [
    'mta-sts.yaml:2:24 domains.example.com.mode: alias *enforce names no anchor above it (anchors are written &name); to write a "*" itself, quote the value',
  ]);
});

test('anchors and aliases are allowed: one mx list shared by several domains', () => {
  const { config } = accepted(
    'domains:\n  example.com: { mode: enforce, mx: &outlook ["*.mail.protection.outlook.com"] }\n  example.org: { mx: *outlook }\n',
  );
  assert.deepEqual(
    config.domains.map((domain) => [domain.name, domain.policy.mx.map((pattern) => pattern.text)]),
    [
      ['example.com', ['*.mail.protection.outlook.com']],
      ['example.org', ['*.mail.protection.outlook.com']],
    ],
  );
});

test('alias bombs, alias loops and deep nesting: located errors, found before anything expands them', () => {
  // Stopped at the first alias past the cap, long before the last level.
  const bombed =
    'mta-sts.yaml:6:10 l5[0]: aliases add more than 100,000 nodes in all (an alias bomb?); anchors and aliases are allowed, but not this many copies';
  assert.deepEqual(errorsOf(`${aliasBomb('bomb')}domains: { example.com: { mode: none } }\n`), [bombed]);
  // In a field whose message quotes its value: before, the message itself expanded it.
  assert.deepEqual(errorsOf(`${aliasBomb('unused')}domains:\n  example.com: { mode: *l8 }\n`), [bombed]);
  const mappingBomb = ['m0: &m0 { a: x, b: x, c: x, d: x, e: x, f: x, g: x, h: x }'];
  for (let level = 1; level < 9; level++) {
    mappingBomb.push(
      `m${level}: &m${level} { ${'abcdefgh'
        .split('')
        .map((key) => `${key}: *m${level - 1}`)
        .join(', ')} }`,
    );
  }
  assert.match(
    errorsOf(`${mappingBomb.join('\n')}\n`).join('\n'),
    /^mta-sts\.yaml:6:\d+ m5\.[a-h]: aliases add more than 100,000 nodes/,
  );
  assert.deepEqual(errorsOf('defaults: &loop\n  tlsrpt: *loop\n'), [
    'mta-sts.yaml:2:11 defaults.tlsrpt: alias *loop is inside the node its anchor names; an alias cannot contain itself',
  ]);
  assert.deepEqual(errorsOf(`domains: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`), [
    `mta-sts.yaml:1:73 domains${'[0]'.repeat(62)}: nested more than 64 levels deep; a config needs about six`,
  ]);
  const indented = Array.from({ length: 200 }, (_, depth) => `${'  '.repeat(depth)}k${depth}:`).join('\n');
  const path = Array.from({ length: 63 }, (_, depth) => `k${depth}`).join('.');
  assert.deepEqual(errorsOf(`${indented}\n`), [
    `mta-sts.yaml:64:127 ${path}: nested more than 64 levels deep; a config needs about six`,
  ]);
});

test('values in messages are cut, escaped and never expanded; the path too', () => {
  const huge = 'x'.repeat(1_000_000);
  assert.deepEqual(errorsOf(`domains:\n  example.com: { mode: ${huge} }\n`), [
    `mta-sts.yaml:2:24 domains.example.com.mode: "${'x'.repeat(80)}"…(+999920) is not a mode; allowed: enforce, testing, none`,
  ]);
  assert.deepEqual(errorsOf(`domains:\n  example.com: { mode: none, ${huge}: 1 }\n`), [
    `mta-sts.yaml:2:30 domains.example.com.${'x'.repeat(80)}…(+999920): unknown key; allowed: mode, mx, max_age, tlsrpt`,
  ]);
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: "enforce\\u001b[2J\\u202e\\u0085" }\n'), [
    'mta-sts.yaml:2:24 domains.example.com.mode: "enforce\\u001b[2J\\u202e\\u0085" is not a mode; allowed: enforce, testing, none',
  ]);
  // 10 × 10 × 10 shared lists, under the alias cap: the message shows a bounded part of it.
  const shared = 'l0: &l0 [a, b, c, d, e, f, g, h, i, j]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n';
  const [message] = errorsOf(
    `${shared}domains:\n  example.com: { mode: [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1] }\n`,
  ).slice(-1);
  assert.ok(message!.length < 300, message);
  assert.match(message!, /^mta-sts\.yaml:4:24 domains\.example\.com\.mode: \[\[\["a", "b", .*…\(\+\d+\)\] is not a mode/);
});

test('quote and formatPath: bounded whatever the value (huge, shared, cyclic), control characters escaped', () => {
  const cyclic: unknown[] = ['a'];
  cyclic.push(cyclic);
  assert.match(quote(cyclic), /^\["a", \["a", \["a", .*…\(\+\d+\)\]+$/);
  assert.ok(quote(cyclic).length < 200);
  assert.equal(quote(Array(1_000_000).fill(1)).length < 200, true);
  assert.match(quote(Array(1_000_000).fill(1)), /, …\(\+\d{6}\)\]$/);
  assert.equal(quote({ mode: 'enforce', mx: ['a.example'] }), '{"mode": "enforce", "mx": ["a.example"]}');
  assert.equal(quote('tab\there\u2028'), '"tab\\there\\u2028"');
  assert.equal(quote(undefined), 'undefined');
  assert.equal(quote(42), '42');
  assert.equal(formatPath(['domains', 'a\nb', 'mx', 3]), 'domains.a\\u000ab.mx[3]');
  assert.equal(formatPath([]), '(top level)');
});

test('input a parser chokes on: NUL bytes, tabs, binary junk, several documents, unknown tags; a BOM is fine', () => {
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: no\u0000ne }\n'), [
    'mta-sts.yaml:2:26 a NUL byte; a config file is text (is this the right file?)',
  ]);
  assert.deepEqual(errorsOf('domains:\n\texample.com: { mode: none }\n'), [
    'mta-sts.yaml:2:1 a tab in the indentation; YAML indents with spaces',
  ]);
  assert.deepEqual(errorsOf('domains: { example.com: { mode: none } }\n---\nlog: { level: info }\n'), [
    'mta-sts.yaml: holds more than one YAML document ("---" separates them); a config file is one document',
  ]);
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: !enforce none }\n'), [
    'mta-sts.yaml:2:24 domains.example.com.mode: unknown tag !<!enforce>; this file uses no tags: remove the "!" or quote the value',
  ]);
  const junk = Buffer.from(Array.from({ length: 4096 }, (_, index) => (index * 7919 + 13) % 256)).toString('latin1');
  const [junkError] = errorsOf(junk);
  assert.match(junkError!, /^mta-sts\.yaml:\d+:\d+ /);
  const bom = accepted('\ufeffdomains:\n  example.com: { mode: enforce, mx: [mail.example.com], max_age: 60 }\n');
  assert.deepEqual(
    bom.warnings.map((warning) => warning.split(' ')[0]),
    ['mta-sts.yaml:2:66'],
  );
});

test('IP addresses are neither policy domains nor MX patterns (RFC 8461 §4.1 matches MX host names)', () => {
  const notAnMx = 'is an IP address; RFC 8461 §4.1 matches MX host names, so list the name your MX record points at';
  assert.deepEqual(
    errorsOf(
      'domains:\n  192.0.2.1: { mode: none }\n  "[192.0.2.1]": { mode: none }\n' +
        '  example.com: { mx: ["192.0.2.1", "2001:db8::1", "[2001:db8::1]", "[IPv6:2001:db8::1]", "*.192.0.2.1", "10.0.0.1."] }\n' +
        '  example.org: { mx: [mail.127.1] }\n',
    ),
    [
      'mta-sts.yaml:2:3 domains.192.0.2.1: domain name "192.0.2.1" is an IP address, not a domain name',
      'mta-sts.yaml:3:3 domains.[192.0.2.1]: domain name "[192.0.2.1]" is an IP address, not a domain name',
      `mta-sts.yaml:4:23 domains.example.com.mx[0]: "192.0.2.1" ${notAnMx}`,
      `mta-sts.yaml:4:36 domains.example.com.mx[1]: "2001:db8::1" ${notAnMx}`,
      `mta-sts.yaml:4:51 domains.example.com.mx[2]: "[2001:db8::1]" ${notAnMx}`,
      `mta-sts.yaml:4:68 domains.example.com.mx[3]: "[IPv6:2001:db8::1]" ${notAnMx}`,
      `mta-sts.yaml:4:90 domains.example.com.mx[4]: "*.192.0.2.1" ${notAnMx}`,
      `mta-sts.yaml:4:105 domains.example.com.mx[5]: "10.0.0.1." ${notAnMx}`,
      'mta-sts.yaml:5:23 domains.example.org.mx[0]: "mail.127.1" ends in an all-numeric label, so it is an address, not a domain name',
    ],
  );
});

test('unknown keys are named in every mapping, with the key probably meant, never as a missing other key', () => {
  const domain = 'domains: { example.com: { mode: none } }\n';
  const cases: [string, string[]][] = [
    ['tls: { sorce: acme }\n', ['mta-sts.yaml:2:8 tls.sorce: unknown key; did you mean source?']],
    [
      'tls: { source: acme, acme: { emial: hostmaster@example.com, accept_terms: true } }\n',
      ['mta-sts.yaml:2:30 tls.acme.emial: unknown key; did you mean email?'],
    ],
    [
      'tls: { source: acme, acme: { email: hostmaster@example.com, accept_terms: true, renew_when_remain: 0.5 } }\n',
      ['mta-sts.yaml:2:81 tls.acme.renew_when_remain: unknown key; did you mean renew_when_remaining?'],
    ],
    ['tls: { source: self-signed, acme: {} }\n', ['mta-sts.yaml:2:29 tls.acme: unknown key; allowed: source']],
    [
      'tls: { acme: { email: a@example.com, accept_terms: true } }\n',
      ['mta-sts.yaml:2:6 tls.source: is required; allowed: self-signed, files, acme'],
    ],
    ['listen: { htps: 8443 }\n', ['mta-sts.yaml:2:11 listen.htps: unknown key; did you mean https?']],
    ['admin: { Port: 9464 }\n', ['mta-sts.yaml:2:10 admin.Port: unknown key; did you mean port?']],
    [
      'statistics: { retention: 30 }\n',
      ['mta-sts.yaml:2:15 statistics.retention: unknown key; allowed: enabled, retention_days, flush_interval_s'],
    ],
    ['defaults: { tlsrpt: { ruа: [] } }\n', ['mta-sts.yaml:2:23 defaults.tlsrpt.ruа: unknown key; did you mean rua?']],
    ['log: info\n', ['mta-sts.yaml:2:6 log: "info" is not a mapping; expected one with level, buffer_bytes, flush_interval_ms']],
  ];
  for (const [extra, expected] of cases) {
    const errors = errorsOf(domain + extra);
    assert.deepEqual(errors, expected, extra);
    assert.doesNotMatch(errors.join('\n'), /undefined/, extra);
  }
  // The typo of mx in a domain that needs one: only the typo.
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: enforce, mxx: [mail.example.com] }\n'), [
    'mta-sts.yaml:2:33 domains.example.com.mxx: unknown key; did you mean mx?',
  ]);
});

test('a domain written as its policy host (mta-sts.<domain>) is a located warning', () => {
  const { warnings } = accepted('domains:\n  example.org: { mode: none }\n  MTA-STS.example.com: { mx: [mail.example.com] }\n');
  assert.deepEqual(warnings, [
    'mta-sts.yaml:3:3 domains.MTA-STS.example.com: this is the policy host of example.com, not a mail domain: it would be served at mta-sts.mta-sts.example.com; list the mail domain (example.com) and its policy is served at mta-sts.example.com',
  ]);
});

test('files that are not config files: a directory, a FIFO, a huge file', async () => {
  const { dir } = await writeTestConfig('');
  await mkdir(`${dir}/conf.d`);
  assert.deepEqual(await loadConfigFile(`${dir}/conf.d`), {
    ok: false,
    errors: [`${dir}/conf.d: cannot read the config file: it is a directory; give the path of the YAML file in it`],
  });
  await promisify(execFile)('mkfifo', [`${dir}/fifo`]);
  assert.deepEqual(await loadConfigFile(`${dir}/fifo`), {
    ok: false,
    errors: [`${dir}/fifo: cannot read the config file: it is not a regular file`],
  });
  // Sparse: 40 MiB on paper, nothing on disk; only the first 32 MiB and a byte are read.
  const huge = await openFile(`${dir}/huge.yaml`, 'w');
  await huge.truncate(40 * 1024 * 1024);
  await huge.close();
  assert.deepEqual(await loadConfigFile(`${dir}/huge.yaml`), {
    ok: false,
    errors: [
      `${dir}/huge.yaml: cannot read the config file: it is larger than 32 MiB, which no config or provider list needs (is this the right file?)`,
    ],
  });
  await writeFile(`${dir}/ok.yaml`, 'domains: { example.com: { mode: none } }\n');
  assert.equal((await loadConfigFile(`${dir}/ok.yaml`)).ok, true);
});
