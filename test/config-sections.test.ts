import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText, parseConfigText, type ConfigLoadResult } from '../src/config/load.js';

// Each section's own problems, as check-config and serve print them: file:line:column, the field
// path, the value and what is allowed. config.test.ts has the domains, listen and log ones.
const ONE_DOMAIN = 'domains:\n  example.com: { mode: none }\n';

const problemsOfResult = (result: ConfigLoadResult): string[] => (result.ok ? [] : result.errors);
const problemsOf = (yaml: string): string[] => problemsOfResult(parseConfigText(yaml, 'mta-sts.yaml'));

/** Each section, written after one valid domain, and the problems it must give, in file order. */
type SectionCases = [section: string, problems: string[]][];
const assertSectionProblems = (cases: SectionCases) => {
  for (const [section, expected] of cases) assert.deepEqual(problemsOf(ONE_DOMAIN + section), expected, section);
};

test('tls.acme: the contact address, the terms, the challenge, the renewal fraction and the CA, each located', () => {
  const cases: SectionCases = [
    [
      'tls:\n  source: acme\n  acme: { email: "me at example", accept_terms: yes, challenge: dns-01, renew_when_remaining: 0.04, directory: "http://ca.example/dir" }\n',
      [
        'mta-sts.yaml:5:18 tls.acme.email: "me at example" is not an email address',
        "mta-sts.yaml:5:49 tls.acme.accept_terms: must be true: certificates are only issued once you accept the CA's terms of service (see the CA's website)",
        'mta-sts.yaml:5:65 tls.acme.challenge: "dns-01" is not a challenge type; allowed: http-01, tls-alpn-01',
        'mta-sts.yaml:5:95 tls.acme.renew_when_remaining: 0.04 is below 0.05 of the certificate lifetime',
        'mta-sts.yaml:5:112 tls.acme.directory: "http://ca.example/dir" is not a CA; allowed: letsencrypt, letsencrypt-staging, zerossl, google or an https:// directory URL',
      ],
    ],
    [
      'tls:\n  source: acme\n  acme: { email: me@example.com, accept_terms: true, renew_when_remaining: 0.91, eab: { kid: 1 } }\n',
      [
        'mta-sts.yaml:5:76 tls.acme.renew_when_remaining: 0.91 is above 0.9 of the certificate lifetime',
        'mta-sts.yaml:5:87 tls.acme.eab.hmac_key: is required: the base64url HMAC key the CA gave you',
        'mta-sts.yaml:5:94 tls.acme.eab.kid: 1 is not text; expected the key identifier the CA gave you',
      ],
    ],
    [
      'tls:\n  source: acme\n  acme: { accept_terms: true, renew_when_remaining: "x" }\n',
      [
        'mta-sts.yaml:5:9 tls.acme.email: is required: the contact address the CA writes to about expiring certificates',
        'mta-sts.yaml:5:53 tls.acme.renew_when_remaining: "x" is not a fraction of the certificate lifetime (0.05 to 0.9)',
      ],
    ],
  ];
  assertSectionProblems(cases);
});

test('tls.acme: the bounds of renew_when_remaining are allowed, a CA name or https URL, and the defaults', () => {
  const acme = (settings: string) => {
    const result = parseConfigText(
      `${ONE_DOMAIN}tls:\n  source: acme\n  acme: { email: me@example.com, accept_terms: true${settings} }\n`,
      'x',
    );
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    assert.equal(result.config.tls.source, 'acme');
    return result.config.tls.source === 'acme' ? result.config.tls.acme : undefined;
  };
  // The renewal default is a third of the certificate's lifetime.
  assert.deepEqual(acme(''), {
    email: 'me@example.com',
    accept_terms: true,
    directory: 'letsencrypt',
    challenge: 'http-01',
    renew_when_remaining: 1 / 3,
  });
  assert.equal(acme(', renew_when_remaining: 0.05')?.renew_when_remaining, 0.05);
  assert.equal(acme(', renew_when_remaining: 0.9')?.renew_when_remaining, 0.9);
  for (const directory of ['letsencrypt-staging', 'zerossl', 'google', 'https://ca.example/directory']) {
    assert.equal(acme(`, directory: "${directory}"`)?.directory, directory);
  }
  assert.equal(acme(', challenge: tls-alpn-01')?.challenge, 'tls-alpn-01');
});

test('tls: the source is required and named, and files need {cert, key} pairs', () => {
  const cases: SectionCases = [
    ['tls: files\n', ['mta-sts.yaml:3:6 tls: "files" is not a mapping; expected one with source (self-signed, files, acme)']],
    [
      'tls: { cert: a.pem }\n',
      [
        'mta-sts.yaml:3:6 tls.source: is required; allowed: self-signed, files, acme',
        'mta-sts.yaml:3:8 tls.cert: unknown key; allowed: source, certificates, acme',
      ],
    ],
    [
      'tls:\n  source: files\n  certificates: [{ cert: a.pem }, 7]\n',
      [
        'mta-sts.yaml:5:18 tls.certificates[0].key: is required: the path of a PEM private key',
        'mta-sts.yaml:5:35 tls.certificates[1]: 7 is not a mapping; expected one with cert, key',
      ],
    ],
  ];
  assertSectionProblems(cases);
});

test('admin: enabled is true or false, a port, a token of 16 characters; a public address without a token', () => {
  assert.deepEqual(problemsOf(`${ONE_DOMAIN}admin: { enabled: "yes", address: "127.0.0.1", port: -1, token: short }\n`), [
    'mta-sts.yaml:3:19 admin.enabled: "yes" is not true or false',
    'mta-sts.yaml:3:54 admin.port: -1 is not a port number (0 to 65535)',
    'mta-sts.yaml:3:65 admin.token: must be at least 16 characters',
  ]);
  assert.deepEqual(problemsOf(`${ONE_DOMAIN}admin: { address: "192.0.2.1" }\n`), [
    'mta-sts.yaml:3:19 admin.address: "192.0.2.1" is not a loopback address and the admin listener has no token: anyone who reaches it would see every domain, its policy id and certificate expiry; set admin.token or MTA_STS_ADMIN_TOKEN, or listen on 127.0.0.1',
  ]);
  // Loopback in every spelling, and a listener that is switched off, need no token.
  for (const admin of [
    '{ address: "::ffff:127.0.0.1" }',
    '{ address: "::1" }',
    '{ address: "127.8.9.10" }',
    '{ address: "2001:db8::1", enabled: false }',
  ]) {
    assert.deepEqual(problemsOf(`${ONE_DOMAIN}admin: ${admin}\n`), [], admin);
  }
  assert.equal(problemsOf(`${ONE_DOMAIN}admin: { address: "128.0.0.1" }\n`).length, 1);
  assert.equal(problemsOf(`${ONE_DOMAIN}admin: { address: "::2" }\n`).length, 1);
});

test('reverse_dns and statistics: servers as addresses with an optional port, numbers within their ranges', () => {
  assert.deepEqual(
    problemsOf(
      `${ONE_DOMAIN}reverse_dns: { enabled: 1, servers: ["192.0.2.53:53", "[2001:db8::53]:5353", "2001:db8::54", "dns.example", "192.0.2.1:x", "[dns.example]:53"], timeout_ms: 99 }\n`,
    ),
    [
      'mta-sts.yaml:3:25 reverse_dns.enabled: 1 is not true or false',
      'mta-sts.yaml:3:94 reverse_dns.servers[3]: "dns.example" is not a DNS server address; write an IP address, optionally with :port',
      'mta-sts.yaml:3:109 reverse_dns.servers[4]: "192.0.2.1:x" is not a DNS server address; write an IP address, optionally with :port',
      'mta-sts.yaml:3:124 reverse_dns.servers[5]: "[dns.example]:53" is not a DNS server address; write an IP address, optionally with :port',
      'mta-sts.yaml:3:157 reverse_dns.timeout_ms: 99 is too small; allowed: 100 to 30000 milliseconds',
    ],
  );
  assert.deepEqual(
    problemsOf(
      `${ONE_DOMAIN}reverse_dns: { timeout_ms: 30001, servers: "192.0.2.53" }\nstatistics: { enabled: no, retention_days: "x", flush_interval_s: 301 }\n`,
    ),
    [
      'mta-sts.yaml:3:28 reverse_dns.timeout_ms: 30001 is too large; allowed: 100 to 30000 milliseconds',
      'mta-sts.yaml:3:44 reverse_dns.servers: "192.0.2.53" is not a list; expected a list of DNS server addresses',
      'mta-sts.yaml:4:24 statistics.enabled: "no" is not true or false',
      'mta-sts.yaml:4:44 statistics.retention_days: "x" is not a number; allowed: 1 to 3660 days',
      'mta-sts.yaml:4:67 statistics.flush_interval_s: 301 is too large; allowed: 1 to 300 seconds',
    ],
  );
  const bounds = parseConfigText(
    `${ONE_DOMAIN}reverse_dns: { timeout_ms: 30000 }\nstatistics: { retention_days: 3660, flush_interval_s: 300 }\n`,
    'x',
  );
  assert.ok(bounds.ok);
  assert.equal(bounds.config.reverseDns.timeout_ms, 30000);
  assert.deepEqual(bounds.config.statistics, { enabled: true, retention_days: 3660, flush_interval_s: 300 });
});

test('state_dir, providers_file, trust_proxy and listen ports: the type each one expects', () => {
  assert.deepEqual(
    problemsOf(`${ONE_DOMAIN}state_dir: ""\nproviders_file: 5\ntrust_proxy: 10.0.0.0/8\nlisten: { https: 1.5, http: "80" }\n`),
    [
      'mta-sts.yaml:3:12 state_dir: must not be empty',
      'mta-sts.yaml:4:17 providers_file: 5 is not text; expected the path of a YAML file of providers (format of config/providers.yaml)',
      'mta-sts.yaml:5:14 trust_proxy: "10.0.0.0/8" is not a list; expected a list of addresses or CIDR ranges',
      'mta-sts.yaml:6:18 listen.https: 1.5 is not a port number (0 to 65535)',
      'mta-sts.yaml:6:29 listen.http: "80" is not a port number (0 to 65535)',
    ],
  );
  const ports = parseConfigText(`${ONE_DOMAIN}listen: { https: 65535, http: 0 }\n`, 'x');
  assert.ok(ports.ok);
  assert.deepEqual(ports.config.listen, { address: '::', https: 65535, http: 0 });
});

test('domains: a list instead of a mapping is one error; mx and tlsrpt.rua must be lists of the right things', () => {
  assert.deepEqual(problemsOf('domains: [example.com]\n'), [
    'mta-sts.yaml:1:10 domains: expected a mapping of domain names, e.g. "example.com: { mx: [mail.example.com] }"',
  ]);
  assert.deepEqual(
    problemsOf(
      'domains:\n  example.com: { mode: none, tlsrpt: { rua: [] } }\n  example.org: { mode: none, tlsrpt: { rua: "mailto:a@b.example" } }\n' +
        '  example.net: { mode: enforce, mx: "mail.example.net" }\n  example.info: { mx: [5] }\n',
    ),
    [
      'mta-sts.yaml:2:45 domains.example.com.tlsrpt.rua: needs at least one address',
      'mta-sts.yaml:3:45 domains.example.org.tlsrpt.rua: expected a list of report addresses',
      'mta-sts.yaml:4:37 domains.example.net.mx: "mail.example.net" is not a list; expected a list of mx host patterns',
      'mta-sts.yaml:5:24 domains.example.info.mx[0]: 5 is not text; expected a host name such as mail.example.com or *.mail.example.com',
    ],
  );
});

test('mx is needed for the mode a domain gets from defaults, and not when that mode is none or unknown', () => {
  assert.deepEqual(problemsOf('defaults: { mode: none }\ndomains:\n  example.com:\n  example.org: { mode: testing }\n'), [
    'mta-sts.yaml:4:3 domains.example.org: mode testing needs at least one mx pattern (mx: [mail.example.org]); only mode none may leave it out',
  ]);
  assert.deepEqual(problemsOf('defaults: { mode: enforce }\ndomains:\n  example.com: {}\n'), [
    'mta-sts.yaml:3:3 domains.example.com: mode enforce needs at least one mx pattern (mx: [mail.example.com]); only mode none may leave it out',
  ]);
  // An unknown default mode is reported once, as itself, not also as a missing mx.
  assert.deepEqual(problemsOf('defaults: { mode: bogus }\ndomains:\n  example.com: {}\n'), [
    'mta-sts.yaml:1:19 defaults.mode: "bogus" is not a mode; allowed: enforce, testing, none',
  ]);
});

test('tlsrpt: a domain inherits the defaults’ rua unless it has its own; report URIs mailto: or https:', () => {
  const result = parseConfigText(
    'defaults: { tlsrpt: { rua: ["mailto:tls@example.com"] } }\ndomains:\n' +
      '  example.com: { mode: none }\n  example.org: { mode: none, tlsrpt: { rua: ["https://reports.example.org/tlsrpt", "MAILTO:b@x.example"] } }\n',
    'x',
  );
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  assert.deepEqual(
    result.config.domains.map((domain) => domain.tlsRptRua),
    [['mailto:tls@example.com'], ['https://reports.example.org/tlsrpt', 'MAILTO:b@x.example']],
  );
  const invalid = ['mailto:a@b', 'mailto:a b@x.example', 'mailto:a@x.example,b@x.example', 'https://', 'https://x.example/a b'];
  for (const rua of invalid) {
    assert.equal(problemsOf(`domains:\n  example.com: { mode: none, tlsrpt: { rua: ["${rua}"] } }\n`).length, 1, rua);
  }
});

test('MTA_STS_ADMIN_TOKEN: opens a public admin address, the file’s token wins, an empty or short one is refused unprinted', () => {
  const publicAdmin = `${ONE_DOMAIN}admin: { address: "::" }\n`;
  const withToken = (yaml: string, token: string) => parseConfigText(yaml, 'mta-sts.yaml', { MTA_STS_ADMIN_TOKEN: token });
  const fromEnvironment = withToken(publicAdmin, '0123456789abcdef');
  assert.ok(fromEnvironment.ok);
  assert.equal(fromEnvironment.config.admin.token, '0123456789abcdef');
  const fromFile = withToken(`${ONE_DOMAIN}admin: { address: "::", token: "file-token-0123456789" }\n`, '0123456789abcdef');
  assert.ok(fromFile.ok);
  assert.equal(fromFile.config.admin.token, 'file-token-0123456789');
  // A broken variable is reported as itself, not again as a public address without a token.
  assert.deepEqual(problemsOfResult(withToken(publicAdmin, '')), [
    'MTA_STS_ADMIN_TOKEN (environment): is empty; set a token of at least 16 characters, or unset the variable',
  ]);
  assert.deepEqual(problemsOfResult(withToken(publicAdmin, 'secret-short')), [
    'MTA_STS_ADMIN_TOKEN (environment): must be at least 16 characters',
  ]);
});

test('warnings: an enforced max_age under a day, located where it is written; a policy host listed as a mail domain', () => {
  const result = parseConfigText(
    'defaults: { mode: enforce, max_age: 3600 }\ndomains:\n  mta-sts.example.com: { mx: [mail.example.com] }\n  example.org: { mx: [mail.example.org], max_age: 86400 }\n',
    'mta-sts.yaml',
  );
  assert.ok(result.ok);
  assert.deepEqual(result.warnings, [
    'mta-sts.yaml:1:37 defaults.max_age: max_age 3600 is below 86400 (one day) for enforced domain mta-sts.example.com; senders will re-fetch often and an attacker who blocks the fetch can strip TLS sooner',
    'mta-sts.yaml:3:3 domains.mta-sts.example.com: this is the policy host of example.com, not a mail domain: it would be served at mta-sts.mta-sts.example.com; list the mail domain (example.com) and its policy is served at mta-sts.example.com',
  ]);
});

test('paths in the file are relative to its folder: state, providers, the ACME CA bundle, certificate files', () => {
  const acme = loadConfigText(
    `${ONE_DOMAIN}state_dir: state\nproviders_file: p.yaml\ntls:\n  source: acme\n  acme: { email: a@b.example, accept_terms: true, ca_bundle: ca/root.pem }\n`,
    '/etc/mta-sts/mta-sts.yaml',
  );
  assert.ok(acme.ok && acme.config.tls.source === 'acme');
  assert.deepEqual(
    [acme.config.stateDir, acme.config.providersFile, acme.config.tls.acme.ca_bundle],
    ['/etc/mta-sts/state', '/etc/mta-sts/p.yaml', '/etc/mta-sts/ca/root.pem'],
  );
  const files = loadConfigText(
    `${ONE_DOMAIN}tls:\n  source: files\n  certificates: [{ cert: c.pem, key: /abs/k.pem }]\n`,
    '/srv/x.yaml',
  );
  assert.ok(files.ok && files.config.tls.source === 'files');
  assert.deepEqual(files.config.tls.certificates, [{ cert: '/srv/c.pem', key: '/abs/k.pem' }]);
  const none = loadConfigText(
    `${ONE_DOMAIN}tls:\n  source: acme\n  acme: { email: a@b.example, accept_terms: true }\n`,
    '/srv/x.yaml',
  );
  assert.ok(none.ok && none.config.tls.source === 'acme');
  assert.equal(none.config.tls.acme.ca_bundle, undefined);
  assert.equal(none.config.providersFile, undefined);
});

test('values that are not text say what text was expected; addresses and URLs are matched whole, not in part', () => {
  assertSectionProblems([
    [
      'listen: { address: 5 }\ntrust_proxy: [5]\ntls:\n  source: files\n  certificates: [{ cert: 1, key: 2 }]\n',
      [
        'mta-sts.yaml:3:20 listen.address: 5 is not text; expected an IP address such as "::" or "0.0.0.0"',
        'mta-sts.yaml:4:15 trust_proxy[0]: 5 is not text; expected an IP address or CIDR range',
        'mta-sts.yaml:7:26 tls.certificates[0].cert: 1 is not text; expected the path of a PEM certificate chain',
        'mta-sts.yaml:7:34 tls.certificates[0].key: 2 is not text; expected the path of a PEM private key',
      ],
    ],
    [
      'tls:\n  source: files\n  certificates: "a.pem"\n',
      ['mta-sts.yaml:5:17 tls.certificates: "a.pem" is not a list; expected a list of {cert, key} pairs'],
    ],
    [
      'tls:\n  source: acme\n  acme: { email: "a b@example.com", accept_terms: true, ca_bundle: 5, profile: 6, directory: "x https://ca.example/dir" }\n',
      [
        'mta-sts.yaml:5:18 tls.acme.email: "a b@example.com" is not an email address',
        'mta-sts.yaml:5:68 tls.acme.ca_bundle: 5 is not text; expected the path of a PEM file with CA certificates to trust for the ACME endpoint',
        'mta-sts.yaml:5:80 tls.acme.profile: 6 is not text; expected an ACME profile name offered by the CA, such as shortlived',
        'mta-sts.yaml:5:94 tls.acme.directory: "x https://ca.example/dir" is not a CA; allowed: letsencrypt, letsencrypt-staging, zerossl, google or an https:// directory URL',
      ],
    ],
    [
      'tls:\n  source: acme\n  acme: { email: "me@example.com x", accept_terms: true, directory: "https://ca.example/dir x" }\n',
      [
        'mta-sts.yaml:5:18 tls.acme.email: "me@example.com x" is not an email address',
        'mta-sts.yaml:5:69 tls.acme.directory: "https://ca.example/dir x" is not a CA; allowed: letsencrypt, letsencrypt-staging, zerossl, google or an https:// directory URL',
      ],
    ],
    [
      'tls:\n  source: acme\n  acme: { email: me@example.com, accept_terms: true, directory: 7 }\n',
      [
        'mta-sts.yaml:5:65 tls.acme.directory: 7 is not text; expected a CA name (letsencrypt, letsencrypt-staging, zerossl, google) or a directory URL',
      ],
    ],
  ]);
  assert.deepEqual(
    problemsOf(
      'domains:\n  example.com: { mode: none, tlsrpt: { rua: ["see mailto:a@b.example", "see https://r.example/x", 5] } }\n',
    ),
    [
      'mta-sts.yaml:2:46 domains.example.com.tlsrpt.rua[0]: "see mailto:a@b.example" is not a report address; allowed: mailto:user@example.com or https://...',
      'mta-sts.yaml:2:72 domains.example.com.tlsrpt.rua[1]: "see https://r.example/x" is not a report address; allowed: mailto:user@example.com or https://...',
      'mta-sts.yaml:2:99 domains.example.com.tlsrpt.rua[2]: 5 is not text; expected mailto:address or https:// URL',
    ],
  );
});

test('a defaults section without a mode still gives mode testing', () => {
  const result = parseConfigText('defaults: { max_age: 86400 }\ndomains:\n  example.com: { mx: [mail.example.com] }\n', 'x');
  assert.ok(result.ok);
  assert.equal(result.config.domains[0]!.policy.mode, 'testing');
});

test('a domain written with no settings (`example.com:` alone) takes everything from defaults', () => {
  const result = parseConfigText(
    'defaults: { mode: none, max_age: 86400, tlsrpt: { rua: ["mailto:tls@example.com"] } }\ndomains:\n  example.com:\n',
    'x',
  );
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  assert.deepEqual(result.config.domains, [
    { name: 'example.com', policy: { mode: 'none', mx: [], maxAge: 86400 }, tlsRptRua: ['mailto:tls@example.com'] },
  ]);
});

test('every problem of a file at once: the domain names and mx checks beside a field that failed elsewhere', () => {
  assert.deepEqual(
    problemsOf(
      'domains:\n  bad_name.example: { mode: none }\n  example.com: { mode: enforce }\n  Example.COM: { mode: none }\nlog: { level: loud }\n',
    ),
    [
      'mta-sts.yaml:2:3 domains.bad_name.example: domain name "bad_name.example" may only contain letters, digits and inner hyphens in each dot-separated label',
      'mta-sts.yaml:3:3 domains.example.com: mode enforce needs at least one mx pattern (mx: [mail.example.com]); only mode none may leave it out',
      'mta-sts.yaml:4:3 domains.Example.COM: duplicate domain: "Example.COM" is the same domain as "example.com"',
      'mta-sts.yaml:5:15 log.level: "loud" is not a log level; allowed: fatal, error, warn, info, debug, trace, silent',
    ],
  );
});
