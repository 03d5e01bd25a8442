import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryAfterMs } from '../src/tls/acme/acme-issuer.js';
import { AcmeError } from '../src/tls/acme/issuer.js';
import { parseHostStatus, storageKey } from '../src/tls/acme/host-state.js';
import { DEFAULT_TIMING, type MaintenanceTiming } from '../src/tls/acme/maintenance.js';
import type { Storage } from '../src/storage/storage.js';
import { certificateFor, DAY, setupMaintenance } from './support/acme-maintenance.js';
import { freePorts } from './support/ports.js';
import { LOOPBACK_LISTEN, startTestService, startTestServiceAt, writeTestConfig } from './support/service.js';

// Retries on the CA's clock: hours and days of it pass in a second, through MaintenanceTiming.now,
// while the maintenance loop wakes on short real timers (its check interval) and decides each time
// against that clock whether it may order. An order placed early shows as an order time before the
// retry time the previous failure announced.

const HOUR = 60 * 60_000;
const HOST = 'mta-sts.example.com';
const DOMAINS = 'domains: { example.com: { mode: none } }\n';

/** A clock that runs `scale` times faster than the real one, from the real time now. */
class ScaledClock {
  private readonly start = Date.now();
  constructor(private readonly scale: number) {}
  readonly now = () => this.at(Date.now());
  /** The time on this clock at a real time. */
  at(realMs: number): number {
    return this.start + (realMs - this.start) * this.scale;
  }
}

/** An hour of the CA's clock in 100 ms; the loop wakes every 10 ms (6 minutes of that clock). */
/** 6 hours pass in 600 ms of real time, or in `6 h / speed` for a test with more to do before the retry time. */
const fastHours = (speed = 36_000): Partial<MaintenanceTiming> => ({ now: new ScaledClock(speed).now, checkIntervalMs: 10 });

const rateLimited = (retryAfter: number | undefined) =>
  Promise.reject(
    new AcmeError(
      'too many certificates already issued',
      { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates already issued' },
      retryAfter,
    ),
  );

const status = async (storage: Storage) =>
  parseHostStatus((await storage.load(storageKey('ca.test', HOST, 'status.json')))!.toString());

test('a Retry-After of 6 hours means no order for 6 hours, then one; the certificate it brings clears the retry time', async () => {
  const { dir: certificates } = await writeTestConfig('');
  const { issuer, maintenance, log, storage } = await setupMaintenance(
    (order) => (order === 1 ? rateLimited(6 * HOUR) : certificateFor(certificates, HOST)),
    fastHours(),
  );
  try {
    await maintenance.setHosts([HOST]);
    maintenance.startOrdering();
    await log.waitFor((line) => line.event === 'certificate_loaded');
    const [failedAt, retriedAt] = issuer.orderedAt;
    const [failure] = log.events('certificate_error');
    assert.ok(Date.parse(String(failure!.next_attempt)) >= failedAt! + 6 * HOUR, String(failure!.next_attempt));
    // Dozens of wake-ups passed meanwhile (every 6 minutes of the CA's clock); none ordered.
    assert.ok(retriedAt! - failedAt! >= 6 * HOUR, `retried after ${(retriedAt! - failedAt!) / HOUR} h`);
    assert.equal(issuer.orders, 2);
    assert.deepEqual(await status(storage), { host: HOST });
    assert.equal(maintenance.nextAttemptOf(HOST), undefined);
  } finally {
    maintenance.stop();
  }
});

test('failures back off from 1 minute, doubling up to a day, and no retry comes before the time announced', async () => {
  // A day of the CA's clock in a second; the loop wakes every 5 ms (7 minutes of it).
  const clock = new ScaledClock(86_400);
  const { issuer, maintenance, log } = await setupMaintenance(() => rateLimited(undefined), {
    minRetryMs: DEFAULT_TIMING.minRetryMs,
    maxRetryMs: DEFAULT_TIMING.maxRetryMs,
    now: clock.now,
    checkIntervalMs: 5,
  });
  try {
    await maintenance.setHosts([HOST]);
    maintenance.startOrdering();
    // 1, 2, 4 ... 1024 minutes, then 1440 (the cap) twice: about two and a half days.
    const failures = 14;
    await log.waitFor(() => log.events('certificate_error').length >= failures, 30_000);
    const lines = log.events('certificate_error').slice(0, failures);
    assert.deepEqual(
      lines.map((line) => line.failures),
      Array.from({ length: failures }, (_, index) => index + 1),
    );
    lines.forEach((line, index) => {
      const backoff = Math.min(DAY, 60_000 * 2 ** index);
      const nextAttempt = Date.parse(String(line.next_attempt));
      // The failure was handled after its order and before its log line (a real millisecond is
      // a minute and a half of this clock): the delay it chose lies within the backoff ±25 %.
      const [earliest, latest] = [
        nextAttempt - clock.at(Date.parse(String(line.time)) + 1),
        nextAttempt - issuer.orderedAt[index]!,
      ];
      assert.ok(
        latest >= 0.75 * backoff && earliest <= 1.25 * backoff,
        `failure ${index + 1}: next attempt in ${earliest / 60_000} to ${latest / 60_000} min; the backoff is ${backoff / 60_000} min`,
      );
      const next = issuer.orderedAt[index + 1];
      if (next !== undefined) assert.ok(next >= nextAttempt, `order ${index + 2} came early`);
    });
  } finally {
    maintenance.stop();
  }
});

test('a restart during the backoff orders no earlier, and the failure count goes on from where it was', async () => {
  const clock = fastHours();
  const first = await setupMaintenance(() => rateLimited(6 * HOUR), clock);
  await first.maintenance.setHosts([HOST]);
  first.maintenance.startOrdering();
  await first.maintenance.check(HOST);
  first.maintenance.stop();
  const nextAttempt = Date.parse((await status(first.storage))!.nextAttempt!);
  assert.ok(nextAttempt >= first.issuer.orderedAt[0]! + 6 * HOUR);

  // A new process over the same state directory: the CA now fails without a Retry-After.
  const second = await setupMaintenance(() => rateLimited(undefined), clock, first.dir);
  try {
    await second.maintenance.setHosts([HOST]);
    assert.equal(second.maintenance.nextAttemptOf(HOST)?.getTime(), nextAttempt);
    second.maintenance.startOrdering();
    await second.log.waitFor((line) => line.event === 'certificate_error');
    assert.ok(second.issuer.orderedAt[0]! >= nextAttempt, 'ordered before the stored retry time');
    const [failure] = second.log.events('certificate_error');
    // The second failure in a row: a backoff of 2 minutes (±25 %), not the 1 minute of a first.
    assert.equal(failure!.failures, 2);
    const planned = Date.parse(String(failure!.next_attempt)) - second.issuer.orderedAt[0]!;
    assert.ok(planned >= 1.5 * 60_000, `next attempt in ${planned / 60_000} min`);
    assert.equal((await status(second.storage))!.failures, 2);
  } finally {
    second.maintenance.stop();
  }
});

test('a config reload during the backoff orders no earlier: neither for a host kept nor for one removed and added again', async () => {
  const { dir: certificates } = await writeTestConfig('');
  const other = 'mta-sts.example.org';
  const { issuer, maintenance, log } = await setupMaintenance(
    (order) => (order === 1 ? rateLimited(6 * HOUR) : certificateFor(certificates, order === 2 ? other : HOST)),
    // Four host changes and an order must fit in the backoff even on a busy machine: 6 hours in 6 s.
    fastHours(3_600),
  );
  try {
    await maintenance.setHosts([HOST]);
    maintenance.startOrdering();
    await maintenance.check(HOST);
    const nextAttempt = maintenance.nextAttemptOf(HOST)!.getTime();
    // A reload that adds a domain (its host is ordered at once), then one that drops and restores ours.
    await maintenance.setHosts([HOST, other]);
    await maintenance.check(other);
    await maintenance.setHosts([other]);
    await maintenance.setHosts([other, HOST]);
    assert.equal(maintenance.nextAttemptOf(HOST)?.getTime(), nextAttempt);
    await log.waitFor((line) => line.event === 'certificate_loaded' && line.host === HOST);
    assert.equal(issuer.orders, 3);
    assert.ok(issuer.orderedAt[2]! >= nextAttempt, 'ordered before the retry time');
  } finally {
    maintenance.stop();
  }
});

test('a service restarted during the backoff says when it will order again instead of ordering', async () => {
  // No CA listens on this port: every order fails at once, and is retried after a minute or so.
  const [closedPort] = await freePorts(1);
  const acme = `tls: { source: acme, acme: { directory: "https://127.0.0.1:${closedPort}/dir", email: hostmaster@example.com, accept_terms: true } }`;
  const first = await startTestService(`${DOMAINS}${acme}\n${LOOPBACK_LISTEN}`, { env: {} });
  const failure = await first.log.waitFor((line) => line.event === 'certificate_error').finally(() => first.service.stop());
  const again = await startTestServiceAt(first.dir, first.configPath, { env: {} });
  try {
    const pending = await again.log.waitFor((line) => line.event === 'certificate_pending');
    assert.equal(pending.host, HOST);
    assert.equal(pending.next_attempt, failure.next_attempt);
    assert.match(String(pending.msg), /the last order failed, next attempt \d{4}-/);
  } finally {
    await again.service.stop();
  }
});

test('Retry-After in seconds or as an HTTP date', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  assert.equal(retryAfterMs('21600', now), 6 * HOUR);
  assert.equal(retryAfterMs('Sun, 01 Mar 2026 18:00:00 GMT', now), 6 * HOUR);
  for (const ignored of [undefined, '', '0', '-5', '1.5', 'soon', 'Sun, 01 Mar 2026 11:00:00 GMT', '2026-03-01T18:00:00Z']) {
    assert.equal(retryAfterMs(ignored, now), undefined, String(ignored));
  }
});
