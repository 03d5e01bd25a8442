import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';

// The `reports:` section (RFC 8460 receivers) as check-config and serve print its problems:
// file:line:column, the field path, the value and what is allowed.
const ONE_DOMAIN = 'domains:\n  example.com: { mode: none }\n';

// The IMAP password comes from the environment only; given here so that the rest can be checked.
const ENV = { MTA_STS_IMAP_PASSWORD: 'secret' };

const problemsOf = (section: string): string[] => {
  const result = parseConfigText(ONE_DOMAIN + section, 'mta-sts.yaml', ENV);
  return result.ok ? [] : result.errors;
};

test('reports.smtp: on/off, an IP address, a port, the message size bounds and each recipient, located', () => {
  assert.deepEqual(
    problemsOf(
      'reports: { smtp: { enabled: "yes", address: "mail.example", port: 70000, max_message_bytes: 1023, recipients: ["tlsrpt@example.com", "not-an-address", 5] } }\n',
    ),
    [
      'mta-sts.yaml:3:29 reports.smtp.enabled: "yes" is not true or false',
      'mta-sts.yaml:3:45 reports.smtp.address: "mail.example" is not an IP address; use "::" for all IPv6 and IPv4 addresses',
      'mta-sts.yaml:3:67 reports.smtp.port: 70000 is not a port number (0 to 65535)',
      'mta-sts.yaml:3:93 reports.smtp.max_message_bytes: 1023 is too small; allowed: 1024 to 1073741824 bytes',
      'mta-sts.yaml:3:134 reports.smtp.recipients[1]: "not-an-address" is not an email address',
      'mta-sts.yaml:3:152 reports.smtp.recipients[2]: 5 is not text; expected an email address',
    ],
  );
});

test('reports.https and the shared limits: on/off and sizes within their bounds, located', () => {
  assert.deepEqual(
    problemsOf('reports: { https: { enabled: 1, max_body_bytes: 1073741825 }, max_report_bytes: "big", retention_days: 0 }\n'),
    [
      'mta-sts.yaml:3:30 reports.https.enabled: 1 is not true or false',
      'mta-sts.yaml:3:49 reports.https.max_body_bytes: 1073741825 is too large; allowed: 1024 to 1073741824 bytes',
      'mta-sts.yaml:3:81 reports.max_report_bytes: "big" is not a number; allowed: 1024 to 1073741824 bytes',
      'mta-sts.yaml:3:104 reports.retention_days: 0 is too small; allowed: 1 to 3660 days',
    ],
  );
  const bounds = parseConfigText(
    `${ONE_DOMAIN}reports: { smtp: { max_message_bytes: 1024 }, https: { max_body_bytes: 1073741824 }, max_report_bytes: 1024, retention_days: 3660 }\n`,
    'x',
  );
  assert.ok(bounds.ok);
  assert.deepEqual(bounds.config.reports, {
    smtp: { enabled: false, address: '::', port: 25, max_message_bytes: 1024, recipients: [] },
    https: { enabled: false, max_body_bytes: 1073741824 },
    imap: { enabled: false, port: 993, mailbox: 'INBOX', done_mailbox: 'TLSRPT-done' },
    max_report_bytes: 1024,
    retention_days: 3660,
  });
});

test('reports.imap: host and user are needed once enabled, the host a host name or IP address, and no name may be empty', () => {
  assert.deepEqual(problemsOf('reports: { imap: { enabled: true, port: 993 } }\n'), [
    "mta-sts.yaml:3:12 reports.imap: needs host when enabled: the IMAP server's host name",
    'mta-sts.yaml:3:12 reports.imap: needs user when enabled: the IMAP user name',
  ]);
  assert.deepEqual(problemsOf('reports: { imap: { enabled: true, host: "", user: "", mailbox: "", done_mailbox: "" } }\n'), [
    'mta-sts.yaml:3:41 reports.imap.host: must not be empty',
    'mta-sts.yaml:3:51 reports.imap.user: must not be empty',
    'mta-sts.yaml:3:64 reports.imap.mailbox: must not be empty',
    'mta-sts.yaml:3:82 reports.imap.done_mailbox: must not be empty',
  ]);
  assert.deepEqual(problemsOf('reports: { imap: { enabled: true, host: "imap example", user: u } }\n'), [
    'mta-sts.yaml:3:41 reports.imap.host: "imap example" is not a host name or IP address',
  ]);
  for (const host of ['imap.example.com', 'imap', 'IMAP-1.Example.COM.', '192.0.2.143', '2001:db8::143']) {
    assert.deepEqual(problemsOf(`reports: { imap: { enabled: true, host: "${host}", user: u } }\n`), [], host);
  }
  for (const host of ['-imap.example.com', 'imap..example.com', 'imap_1.example.com', `${'a'.repeat(64)}.example.com`]) {
    assert.equal(problemsOf(`reports: { imap: { enabled: true, host: "${host}", user: u } }\n`).length, 1, host);
  }
  // Switched off, the section may be left half written.
  assert.deepEqual(problemsOf('reports: { imap: { enabled: false, port: 143 } }\n'), []);
});

test('reports: unknown keys are named with the key meant, and a list is not the section', () => {
  assert.deepEqual(problemsOf('reports: { smpt: { enabled: true } }\n'), [
    'mta-sts.yaml:3:12 reports.smpt: unknown key; did you mean smtp?',
  ]);
  assert.deepEqual(problemsOf('reports: { smtp: { enabled: true, recipient: [] } }\n'), [
    'mta-sts.yaml:3:35 reports.smtp.recipient: unknown key; did you mean recipients?',
  ]);
  assert.deepEqual(problemsOf('reports: [smtp]\n'), [
    'mta-sts.yaml:3:10 reports: ["smtp"] is not a mapping; expected one with smtp, https, imap, max_report_bytes, retention_days',
  ]);
});
