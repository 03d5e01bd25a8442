import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';

// The `providers:` section (provider ranges refreshed from SPF records) and the DNS settings it
// shares with reverse_dns and health, as check-config and serve report them.
const ONE_DOMAIN = 'domains:\n  example.com: { mode: none }\n';
const ALLOWED = 'allowed: 1h to 7d (written as 90m, 6h, 1d), or never';

const loaded = (section: string) => parseConfigText(`${ONE_DOMAIN}${section}\n`, 'mta-sts.yaml');
const refreshOf = (section: string) => {
  const result = loaded(section);
  return result.ok ? result.config.providerRefresh : result.errors;
};

test('providers.refresh: never, or a duration from 1h to 7d, each bound included', () => {
  assert.deepEqual(refreshOf('providers: { refresh: never }'), { intervalMs: null, resolver: [], timeoutMs: 5_000 });
  assert.deepEqual(refreshOf('providers: { refresh: 1h, resolver: ["127.0.0.1:5353"], timeout_ms: 100 }'), {
    intervalMs: 3_600_000,
    resolver: ['127.0.0.1:5353'],
    timeoutMs: 100,
  });
  assert.deepEqual(refreshOf('providers: { refresh: 60m }'), { intervalMs: 3_600_000, resolver: [], timeoutMs: 5_000 });
  assert.deepEqual(refreshOf('providers: { refresh: 7d }'), { intervalMs: 604_800_000, resolver: [], timeoutMs: 5_000 });
  for (const written of ['59m', '8d', '169h', 'x1h', '1hx', '1 day', '1H', '']) {
    assert.deepEqual(
      refreshOf(`providers: { refresh: "${written}" }`),
      [`mta-sts.yaml:3:23 providers.refresh: "${written}" is not a refresh interval; ${ALLOWED}`],
      written,
    );
  }
  assert.deepEqual(refreshOf('providers: { refersh: 1d }'), [
    'mta-sts.yaml:3:14 providers.refersh: unknown key; did you mean refresh?',
  ]);
  assert.deepEqual(refreshOf('providers: { refresh: 5 }'), [
    `mta-sts.yaml:3:23 providers.refresh: 5 is not text; expected a duration or never; ${ALLOWED}`,
  ]);
});

test('providers.resolver and timeout_ms, reverse_dns.servers and health.public_addresses: each wrong value located', () => {
  assert.deepEqual(refreshOf('providers: { resolver: ["nope"], timeout_ms: 99 }'), [
    'mta-sts.yaml:3:25 providers.resolver[0]: "nope" is not a DNS server address; write an IP address, optionally with :port',
    'mta-sts.yaml:3:46 providers.timeout_ms: 99 is too small; allowed: 100 to 30000 milliseconds',
  ]);
  assert.deepEqual(refreshOf('providers: { resolver: 5 }'), [
    'mta-sts.yaml:3:24 providers.resolver: 5 is not a list; expected a list of DNS server addresses',
  ]);
  assert.deepEqual(refreshOf('reverse_dns: { servers: ["bad server"] }'), [
    'mta-sts.yaml:3:26 reverse_dns.servers[0]: "bad server" is not a DNS server address; write an IP address, optionally with :port',
  ]);
  assert.deepEqual(refreshOf('reverse_dns: { servers: [7] }'), [
    'mta-sts.yaml:3:26 reverse_dns.servers[0]: 7 is not text; expected a DNS server address such as 192.0.2.53 or 127.0.0.1:5353',
  ]);
  assert.deepEqual(refreshOf('health: { public_addresses: ["x", 7] }'), [
    'mta-sts.yaml:3:30 health.public_addresses[0]: "x" is not an IP address',
    'mta-sts.yaml:3:35 health.public_addresses[1]: 7 is not text; expected an IP address of this server as the internet reaches it',
  ]);
  assert.deepEqual(refreshOf('health: { public_addresses: "x" }'), [
    'mta-sts.yaml:3:29 health.public_addresses: "x" is not a list; expected a list of IP addresses',
  ]);
});
