import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfigFile, parseConfigText } from '../src/config/load.js';

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
        'mta-sts.yaml:3:1 frobnicate: unknown key; allowed: defaults, domains, listen, tls, state_dir, trust_proxy, log, admin, providers_file, reverse_dns, statistics',
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
