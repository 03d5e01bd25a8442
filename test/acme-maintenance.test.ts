import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm, stat } from 'node:fs/promises';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcmeError } from '../src/tls/acme/issuer.js';
import type { StorageLock } from '../src/storage/storage.js';
import { renewalDue, storageKey } from '../src/tls/acme/host-state.js';
import { loadCertificate } from '../src/tls/certificate.js';
import { parseConfigText } from '../src/config/load.js';
import { certificateFor, DAY, setupMaintenance as setup } from './support/acme-maintenance.js';
import { writeTestConfig } from './support/service.js';

// The maintenance loop's decisions, with an issuer that answers the way a CA would in cases
// pebble cannot produce on demand (rate limits with Retry-After, slow orders).

test('renewal comes due when the configured fraction of the lifetime is left: 90-, 45- and 6-day certificates', () => {
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (const days of [90, 45, 6]) {
    const certificate = { notBefore: new Date(start), notAfter: new Date(start + days * DAY) };
    assert.equal(renewalDue(certificate, 1 / 3), start + (days * DAY * 2) / 3, `${days} days`);
  }
});

test('one order per host at a time; the certificate is stored with a private key file of mode 0600', async () => {
  const { dir: certificates } = await writeTestConfig('');
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { dir, issuer, maintenance, published } = await setup(async () => {
    await gate;
    return certificateFor(certificates, 'mta-sts.example.com');
  });
  await maintenance.setHosts(['mta-sts.example.com']);
  maintenance.startOrdering();
  const checks = [
    maintenance.check('mta-sts.example.com'),
    maintenance.check('mta-sts.example.com'),
    maintenance.check('mta-sts.example.com'),
  ];
  release();
  await Promise.all(checks);
  assert.equal(issuer.orders, 1);
  assert.deepEqual(
    published.at(-1)!.map((certificate) => certificate.dnsNames),
    [['mta-sts.example.com']],
  );
  assert.equal((await stat(`${dir}/${storageKey('ca.test', 'mta-sts.example.com', 'key.pem')}`)).mode & 0o777, 0o600);
  maintenance.stop();
});

test('a rate limit with Retry-After is honoured, logged once with the problem and the next attempt', async () => {
  const retryAfterMs = 3 * 60 * 60_000;
  const { log, storage, maintenance, issuer } = await setup(() =>
    Promise.reject(
      new AcmeError(
        'too many certificates already issued',
        { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates already issued' },
        retryAfterMs,
      ),
    ),
  );
  await maintenance.setHosts(['mta-sts.example.com']);
  const before = Date.now();
  maintenance.startOrdering();
  await maintenance.check('mta-sts.example.com');
  assert.equal(issuer.orders, 1);
  const [failure] = log.events('certificate_error');
  assert.equal(failure!.problem_type, 'urn:ietf:params:acme:error:rateLimited');
  assert.equal(failure!.detail, 'too many certificates already issued');
  assert.equal(failure!.serving_previous, false);
  assert.ok(Date.parse(String(failure!.next_attempt)) >= before + retryAfterMs, String(failure!.next_attempt));
  const status = JSON.parse((await storage.load(storageKey('ca.test', 'mta-sts.example.com', 'status.json')))!.toString()) as {
    lastError: { type: string };
  };
  assert.equal(status.lastError.type, 'urn:ietf:params:acme:error:rateLimited');
  maintenance.stop();
});

test('failures back off exponentially with jitter, never in a tight loop', async () => {
  const { log, maintenance } = await setup(() => Promise.reject(new AcmeError('connection failed', undefined, undefined)), {
    minRetryMs: 50,
    maxRetryMs: 400,
    checkIntervalMs: 10_000,
  });
  await maintenance.setHosts(['mta-sts.example.com']);
  maintenance.startOrdering();
  await log.waitFor(() => log.events('certificate_error').length >= 5);
  maintenance.stop();
  const attempts = log.events('certificate_error').map((line) => Date.parse(String(line.time)));
  const gaps = attempts.slice(1, 5).map((time, index) => time - attempts[index]!);
  // Retries after 50, 100, 200, then 400 ms (the cap), each ±25 %: never sooner than three quarters
  // of that (less 2 ms for the millisecond clock), where a tight loop would retry at once.
  const earliest = [50, 100, 200, 400].map((backoff) => 0.75 * backoff - 2);
  assert.ok(
    gaps.every((gap, index) => gap >= earliest[index]!),
    `gaps ${gaps.join(', ')} ms; at least ${earliest.join(', ')}`,
  );
});

test('an order whose lock was lost meanwhile is not stored: another replica may hold the lock and store its own', async () => {
  const { dir: certificates } = await writeTestConfig('');
  const host = 'mta-sts.example.com';
  let held: StorageLock | undefined;
  const { dir, storage, log, issuer, maintenance } = await setup(
    async () => {
      // What another replica does when it finds the lease expired (this process stalled longer than the lease).
      await rm(`${dir}/locks/order-ca.test-${host}.lease`, { recursive: true });
      // The lease is checked at its refresh (every second here); the bound also keeps the test process waiting for it.
      const bound = new AbortController();
      await Promise.race([
        once(held!.lost, 'abort'),
        sleep(5_000, undefined, { signal: bound.signal }).then(() => assert.fail('the lost lease went unnoticed for 5 s')),
      ]).finally(() => bound.abort());
      return certificateFor(certificates, host);
    },
    {},
    undefined,
    (storage) => ({
      load: (key) => storage.load(key),
      store: (key, value, options) => storage.store(key, value, options),
      delete: (key) => storage.delete(key),
      list: (prefix, options) => storage.list(prefix, options),
      lock: async (name, options) => (held = await storage.lock(name, options)),
    }),
  );
  await maintenance.setHosts([host]);
  maintenance.startOrdering();
  await maintenance.check(host);
  assert.equal(issuer.orders, 1);
  assert.equal(await storage.load(storageKey('ca.test', host, 'chain.pem')), undefined);
  assert.equal(await storage.load(storageKey('ca.test', host, 'key.pem')), undefined);
  assert.equal(log.events('storage_lock_lost').length, 1);
  assert.equal(log.events('certificate_error').length, 0);
  assert.equal(maintenance.certificateOf(host), undefined);
  maintenance.stop();
});

test('a host removed from the config stops being ordered and renewed', async () => {
  const { maintenance, issuer } = await setup(() => Promise.reject(new AcmeError('connection failed', undefined, undefined)), {
    minRetryMs: 50,
    maxRetryMs: 50,
  });
  await maintenance.setHosts(['mta-sts.example.com']);
  maintenance.startOrdering();
  await maintenance.check('mta-sts.example.com');
  await maintenance.setHosts([]);
  const ordersAtRemoval = issuer.orders;
  // Nothing to wait for: no order is seen over eight 50 ms retry periods.
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(issuer.orders, ordersAtRemoval);
  maintenance.stop();
});

test('the renewal default is pinned: a config without renew_when_remaining renews once a third of the lifetime is left', async () => {
  const loaded = parseConfigText(
    'domains: { example.com: { mode: none } }\ntls: { source: acme, acme: { email: hostmaster@example.com, accept_terms: true } }\n',
    'mta-sts.yaml',
  );
  assert.ok(loaded.ok && loaded.config.tls.source === 'acme');
  const renewWhenRemaining = loaded.config.tls.acme.renew_when_remaining;
  assert.equal(renewWhenRemaining, 1 / 3);

  const host = 'mta-sts.example.com';
  const { dir: certificates } = await writeTestConfig('');
  const stored = await certificateFor(certificates, host);
  const { notBefore, notAfter } = loadCertificate(stored.chainPem, stored.keyPem, 'stored');
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const thirdLeft = notAfter.getTime() - lifetime / 3;
  for (const [now, renews] of [
    [thirdLeft - 60_000, false],
    [thirdLeft + 60_000, true],
  ] as const) {
    const { storage, maintenance, issuer } = await setup(() => certificateFor(certificates, host), {
      renewWhenRemaining,
      now: () => now,
    });
    await storage.store(storageKey('ca.test', host, 'chain.pem'), stored.chainPem);
    await storage.store(storageKey('ca.test', host, 'key.pem'), stored.keyPem, { secret: true });
    await maintenance.setHosts([host]);
    maintenance.startOrdering();
    await maintenance.check(host);
    maintenance.stop();
    assert.equal(issuer.orders, renews ? 1 : 0, `${(notAfter.getTime() - now) / lifetime} of the lifetime left`);
  }
});
