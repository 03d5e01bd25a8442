import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';

// What a config that names only its domains gets: the defaults the README and config/example.yaml
// document. A changed default changes what every deployment that left it out does.
const ONE_DOMAIN = 'domains:\n  example.com: { mode: none }\n';
// Every section written but empty: each of its settings takes its own default (tls is left out: a
// written tls section must say its source).
const EMPTY_SECTIONS = ['listen', 'log', 'admin', 'reverse_dns', 'statistics', 'reports', 'providers', 'health']
  .map((section) => `${section}: {}\n`)
  .join('');

const settingsOf = (yaml: string) => {
  const result = parseConfigText(yaml, 'mta-sts.yaml');
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  const { domains, ...settings } = result.config;
  assert.equal(domains.length, 1);
  return settings;
};

test('a config with only its domains, or with every section empty, gets the documented default of every setting', () => {
  for (const yaml of [ONE_DOMAIN, ONE_DOMAIN + EMPTY_SECTIONS])
    assert.deepEqual(
      settingsOf(yaml),
      {
        listen: { address: '::', https: 443, http: 80 },
        tls: { source: 'self-signed' },
        stateDir: '/var/lib/mta-sts',
        trustProxy: [],
        logLevel: 'info',
        logBufferBytes: 0,
        logFlushIntervalMs: 1_000,
        admin: { enabled: true, address: '127.0.0.1', port: 9464 },
        reverseDns: { enabled: true, servers: [], timeout_ms: 2_000 },
        statistics: { enabled: true, retention_days: 400, flush_interval_s: 10 },
        reports: {
          smtp: { enabled: false, address: '::', port: 25, max_message_bytes: 10_485_760, recipients: [] },
          https: { enabled: false, max_body_bytes: 1_048_576 },
          imap: { enabled: false, port: 993, mailbox: 'INBOX', done_mailbox: 'TLSRPT-done' },
          max_report_bytes: 20_971_520,
          retention_days: 400,
        },
        providersFile: undefined,
        providerRefresh: { intervalMs: 86_400_000, resolver: [], timeoutMs: 5_000 },
        retireRemovedDomains: true,
        health: { enabled: true, intervalMs: 21_600_000, resolver: [], publicAddresses: [] },
      },
      yaml,
    );
});
