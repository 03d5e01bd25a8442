import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IMAP_PASSWORD_VARIABLE, readEnvironment } from '../src/config/environment.js';
import { loadConfigText } from '../src/config/load.js';

// reports.imap's password comes only from MTA_STS_IMAP_PASSWORD, held to the admin token's rules:
// an empty value is an error, a missing one is said where IMAP is enabled, the value is never shown.

const WITH_IMAP = `domains:
  example.com: { mx: [mail.example.com] }
reports:
  imap:
    enabled: true
    host: imap.example.com
    user: tls-reports@example.com
`;

test('IMAP enabled without MTA_STS_IMAP_PASSWORD: a located error naming the variable', () => {
  const loaded = loadConfigText(WITH_IMAP, '/etc/mta-sts/mta-sts.yaml', {});
  assert.ok(!loaded.ok);
  assert.deepEqual(loaded.errors, [
    '/etc/mta-sts/mta-sts.yaml:5:14 reports.imap.enabled: the IMAP password must be given in the environment variable MTA_STS_IMAP_PASSWORD (never in this file)',
  ]);
});

test('an empty MTA_STS_IMAP_PASSWORD is an error, with or without IMAP enabled; a set one is taken and never shown', () => {
  for (const text of [WITH_IMAP, 'domains:\n  example.com: { mx: [mail.example.com] }\n']) {
    const loaded = loadConfigText(text, 'mta-sts.yaml', { [IMAP_PASSWORD_VARIABLE]: '' });
    assert.ok(!loaded.ok);
    assert.deepEqual(loaded.errors, [
      'MTA_STS_IMAP_PASSWORD (environment): is empty; set the IMAP password, or unset the variable',
    ]);
  }
  const secret = 'correct horse battery staple';
  const loaded = loadConfigText(WITH_IMAP, 'mta-sts.yaml', { [IMAP_PASSWORD_VARIABLE]: secret });
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.errors));
  assert.equal(readEnvironment({ [IMAP_PASSWORD_VARIABLE]: secret }).imapPassword, secret);
  assert.ok(!JSON.stringify(loaded).includes(secret), 'the loaded config does not carry the password into anything it logs');
});
