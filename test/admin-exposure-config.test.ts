import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminExposure } from '../src/config/admin-exposure.js';
import { ADMIN_TOKEN_VARIABLE, IMAP_PASSWORD_VARIABLE, readEnvironment } from '../src/config/environment.js';
import { parseConfigText } from '../src/config/load.js';
import { adminConfig, DOMAINS, EMPTY, exposed, TOKEN, TOO_SHORT } from './support/admin-exposure.js';

// The admin listener's exposure and the secrets from the environment, as config loading judges
// them: in process, the words and places check-config prints (admin-exposure.test.ts runs them
// through the real listeners and commands).

test('an admin listener on a non-loopback address without a token is a located config error', () => {
  for (const address of ['::', '0.0.0.0', '203.0.113.9', '2001:db8::9', '::ffff:192.0.2.1']) {
    const loaded = parseConfigText(adminConfig(`address: "${address}"`), 'mta-sts.yaml');
    assert.deepEqual(loaded, { ok: false, errors: [`mta-sts.yaml:2:19 admin.address: ${exposed(address)}`] }, address);
  }
  // Reported with the file's other problems, all at once.
  const both = parseConfigText(
    `domains: { example.com: { mode: enforced } }\nadmin:\n  port: 9464\n  address: "::"\n`,
    'mta-sts.yaml',
  );
  assert.deepEqual(both, {
    ok: false,
    errors: [
      'mta-sts.yaml:1:33 domains.example.com.mode: "enforced" is not a mode; allowed: enforce, testing, none',
      `mta-sts.yaml:4:12 admin.address: ${exposed('::')}`,
    ],
  });
});

test('an admin address that is not text is the schema’s to report, even when its text would be an address', () => {
  assert.deepEqual(parseConfigText(adminConfig('address: [192.0.2.1]'), 'mta-sts.yaml'), {
    ok: false,
    errors: ['mta-sts.yaml:2:19 admin.address: ["192.0.2.1"] is not text; expected an IP address such as "::" or "0.0.0.0"'],
  });
});

test('a non-loopback admin listener is accepted with a token from the file or the environment; loopback and off need none', () => {
  const accepted = (yaml: string, env = {}) => {
    const loaded = parseConfigText(yaml, 'mta-sts.yaml', env);
    assert.ok(loaded.ok, `${yaml}: ${JSON.stringify(loaded)}`);
    return loaded.config.admin;
  };
  assert.equal(accepted(adminConfig(`address: "::", token: ${TOKEN}`)).token, TOKEN);
  assert.equal(accepted(adminConfig('address: "0.0.0.0"'), { MTA_STS_ADMIN_TOKEN: TOKEN }).token, TOKEN);
  // The file's token wins over the environment's, as the file's EAB keys do.
  assert.equal(accepted(adminConfig(`address: "::", token: ${TOKEN}`), { MTA_STS_ADMIN_TOKEN: `${TOKEN}-env` }).token, TOKEN);
  for (const address of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) {
    assert.equal(accepted(adminConfig(`address: "${address}"`)).token, undefined, address);
  }
  assert.equal(accepted(DOMAINS).address, '127.0.0.1');
  assert.equal(accepted(adminConfig('enabled: false, address: "::"')).enabled, false);
});

test('MTA_STS_ADMIN_TOKEN follows the file token rules: at least 16 characters, and empty is an error; it is never printed', () => {
  const secret = 'sh0rt-s3cret';
  for (const [env, error] of [
    [{ MTA_STS_ADMIN_TOKEN: secret }, TOO_SHORT],
    [{ MTA_STS_ADMIN_TOKEN: '' }, EMPTY],
  ] as const) {
    // On loopback as much as on "::": a token that is set is checked (and on "::" no second error says it is missing).
    for (const yaml of [DOMAINS, adminConfig('address: "::"'), adminConfig('enabled: false')]) {
      assert.deepEqual(parseConfigText(yaml, 'mta-sts.yaml', env), { ok: false, errors: [error] }, yaml);
    }
  }
  // A short token in the file gets the same words.
  assert.deepEqual(parseConfigText(adminConfig(`token: ${secret}`), 'mta-sts.yaml'), {
    ok: false,
    errors: ['mta-sts.yaml:2:17 admin.token: must be at least 16 characters'],
  });
});

test('a value the schema rejects is reported by the schema alone, not again as an exposed listener', () => {
  const onlyError = (admin: string, error: string) =>
    assert.deepEqual(parseConfigText(adminConfig(admin), 'mta-sts.yaml'), { ok: false, errors: [error] }, admin);
  onlyError(
    'address: "::", token: 12',
    'mta-sts.yaml:2:32 admin.token: 12 is not text; expected a bearer token of at least 16 characters (or set MTA_STS_ADMIN_TOKEN)',
  );
  onlyError('address: "::", enabled: "yes"', 'mta-sts.yaml:2:34 admin.enabled: "yes" is not true or false');
  onlyError('address: 7', 'mta-sts.yaml:2:19 admin.address: 7 is not text; expected an IP address such as "::" or "0.0.0.0"');
  onlyError(
    'address: "mail.example.com"',
    'mta-sts.yaml:2:19 admin.address: "mail.example.com" is not an IP address; use "::" for all IPv6 and IPv4 addresses',
  );
  assert.deepEqual(parseConfigText(`${DOMAINS}admin: ~\n`, 'mta-sts.yaml'), {
    ok: false,
    errors: ['mta-sts.yaml:2:8 admin: null is not a mapping; expected one with enabled, address, port, token'],
  });
});

test('adminExposure: nothing to say with a token in the environment, an admin section that is no mapping, or none', () => {
  const open = { admin: { address: '203.0.113.9' } };
  assert.equal(adminExposure(open, false).length, 1);
  assert.deepEqual(adminExposure(open, true), []);
  assert.deepEqual(adminExposure({ admin: { address: '203.0.113.9', enabled: true } }, false)[0]?.path, ['admin', 'address']);
  for (const data of [{}, { admin: null }, { admin: 'on' }, null, 'text'])
    assert.deepEqual(adminExposure(data, false), [], JSON.stringify(data));
});

test('readEnvironment: the token and the IMAP password taken, empty ones refused, both problems listed, never a value', () => {
  assert.deepEqual(readEnvironment({}), { adminToken: undefined, imapPassword: undefined, errors: [] });
  assert.deepEqual(readEnvironment({ [ADMIN_TOKEN_VARIABLE]: TOKEN, [IMAP_PASSWORD_VARIABLE]: 'p' }), {
    adminToken: TOKEN,
    imapPassword: 'p',
    errors: [],
  });
  assert.deepEqual(readEnvironment({ [ADMIN_TOKEN_VARIABLE]: '', [IMAP_PASSWORD_VARIABLE]: '' }), {
    adminToken: undefined,
    imapPassword: undefined,
    errors: [EMPTY, 'MTA_STS_IMAP_PASSWORD (environment): is empty; set the IMAP password, or unset the variable'],
  });
  assert.deepEqual(readEnvironment({ [ADMIN_TOKEN_VARIABLE]: 'short' }), {
    adminToken: undefined,
    imapPassword: undefined,
    errors: [TOO_SHORT],
  });
});
