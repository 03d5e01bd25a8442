import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';

const DOMAIN = 'domains:\n  example.com: { mx: [mail.example.com] }\n';

const parse = (health: string) => parseConfigText(`${DOMAIN}${health}`, 'mta-sts.yaml');

test('health: defaults when absent (on, every 6 hours, system resolvers, no public addresses)', () => {
  const result = parse('');
  assert.ok(result.ok);
  assert.deepEqual(result.config.health, { enabled: true, intervalMs: 6 * 3_600_000, resolver: [], publicAddresses: [] });
});

test('health: an interval in minutes, hours or days from 10m to 7d; resolvers as IP[:PORT]; public addresses as IPs', () => {
  const result = parse(
    'health: { enabled: false, interval: 10m, resolver: [192.0.2.53, "127.0.0.1:5353", "[2001:db8::53]:53", "2001:db8::1"], public_addresses: [192.0.2.10, "2001:db8::10"] }\n',
  );
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  assert.deepEqual(result.config.health, {
    enabled: false,
    intervalMs: 600_000,
    resolver: ['192.0.2.53', '127.0.0.1:5353', '[2001:db8::53]:53', '2001:db8::1'],
    publicAddresses: ['192.0.2.10', '2001:db8::10'],
  });
  const longest = parse('health: { interval: 7d }\n');
  assert.ok(longest.ok);
  assert.equal(longest.config.health.intervalMs, 7 * 86_400_000);
});

test('health: each wrong value located, with what is allowed', () => {
  const result = parse(
    'health:\n  interval: 9m\n  resolver: [dns.example, "127.0.0.1:99999"]\n  public_addresses: [mta-sts.example.com]\n  enabled: yes\n  intervl: 1h\n',
  );
  assert.equal(result.ok, false);
  const allowed = 'allowed: 10m to 7d, written as minutes, hours or days (30m, 6h, 1d)';
  assert.deepEqual(result.ok ? [] : result.errors, [
    `mta-sts.yaml:4:13 health.interval: "9m" is too short; ${allowed}`,
    'mta-sts.yaml:5:14 health.resolver[0]: "dns.example" is not a DNS server address; write an IP address, optionally with :port',
    'mta-sts.yaml:5:27 health.resolver[1]: "127.0.0.1:99999" is not a DNS server address; write an IP address, optionally with :port',
    'mta-sts.yaml:6:22 health.public_addresses[0]: "mta-sts.example.com" is not an IP address',
    'mta-sts.yaml:7:12 health.enabled: "yes" is not true or false',
    'mta-sts.yaml:8:3 health.intervl: unknown key; did you mean interval?',
  ]);
  const tooLong = parse('health: { interval: 8d }\n');
  assert.deepEqual(tooLong.ok ? [] : tooLong.errors, [`mta-sts.yaml:3:21 health.interval: "8d" is too long; ${allowed}`]);
  const notDuration = parse('health: { interval: 6 }\n');
  assert.deepEqual(notDuration.ok ? [] : notDuration.errors, [
    `mta-sts.yaml:3:21 health.interval: 6 is not a duration; ${allowed}`,
  ]);
});
