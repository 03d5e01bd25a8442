import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Registry } from 'prom-client';
import { parseConfigText } from '../src/config/load.js';
import type { CheckId, CheckResult, CheckStatus } from '../src/health/check-result.js';
import type { DomainCheck } from '../src/health/domain-check.js';
import { registerHealthMetrics } from '../src/health/health-metrics.js';
import { reloadRisks, type CheckedDomain } from '../src/health/reload-risks.js';
import { SelfCheck } from '../src/health/self-check.js';
import { createLogger } from '../src/log/logger.js';
import { PolicySet, type ServedPolicy } from '../src/policy/policy-set.js';
import { LogCapture } from './support/service.js';

const setOf = (domains: string): PolicySet => {
  const loaded = parseConfigText(`domains:\n${domains}`, 'test.yaml');
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  return new PolicySet(loaded.config.domains);
};

const result = (id: CheckId, status: CheckStatus, details: Record<string, unknown> = {}): CheckResult => ({
  id,
  status,
  message: `${id} is ${status}`,
  details,
});

/** A checker that answers from a table the test changes, and counts the domains it was asked about. */
function scriptedChecker() {
  const statuses = new Map<string, Partial<Record<CheckId, CheckStatus>>>();
  const asked: string[] = [];
  let failWith: Error | undefined;
  const check = async (served: ServedPolicy): Promise<DomainCheck> => {
    asked.push(served.domain);
    if (failWith) throw failWith;
    const table = statuses.get(served.domain) ?? {};
    const checks = (['sts_txt', 'sts_txt_id', 'mx_covered'] as const).map((id) => result(id, table[id] ?? 'ok'));
    return { domain: served.domain, mode: served.policy.mode, status: 'ok', checks };
  };
  return { check, statuses, asked, fail: (error: Error | undefined) => (failWith = error) };
}

function selfCheckWith(checker: ReturnType<typeof scriptedChecker>) {
  const log = new LogCapture();
  const selfCheck = new SelfCheck({
    log: createLogger('info', log),
    check: checker.check,
    intervalMs: 1_000,
    firstCheckDelayMs: 100,
    jitter: 0.1,
    random: () => 0,
    now: () => Date.parse('2026-12-01T12:00:00Z'),
  });
  return { selfCheck, log };
}

/** Lets the round that a timer started finish, and the next one be scheduled. */
async function roundDone(selfCheck: SelfCheck): Promise<void> {
  await selfCheck.settled();
  await new Promise((resolve) => setImmediate(resolve));
}

test('rounds: the first after the start-up delay, then every interval less its jitter; never before', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const checker = scriptedChecker();
  const { selfCheck } = selfCheckWith(checker);
  const set = setOf('  example.com: { mode: enforce, mx: [mx1.example.com] }\n  example.org: { mx: [mx1.example.org] }\n');
  selfCheck.start(() => set);
  mock.timers.tick(99);
  await roundDone(selfCheck);
  assert.deepEqual(checker.asked, [], 'nothing is checked on the start-up path');
  mock.timers.tick(1);
  await roundDone(selfCheck);
  assert.deepEqual(checker.asked.sort(), ['example.com', 'example.org']);
  // random() = 0 and jitter 0.1: the next round 900 ms later.
  mock.timers.tick(899);
  await roundDone(selfCheck);
  assert.equal(checker.asked.length, 2);
  mock.timers.tick(1);
  await roundDone(selfCheck);
  assert.equal(checker.asked.length, 4);
  selfCheck.stop();
  mock.timers.tick(10_000);
  await roundDone(selfCheck);
  assert.equal(checker.asked.length, 4, 'no round after stop');
});

test('health_check lines: a first result only when not ok, then only changes, with from and to', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const checker = scriptedChecker();
  const { selfCheck, log } = selfCheckWith(checker);
  const set = setOf('  example.com: { mode: enforce, mx: [mx1.example.com] }\n');
  checker.statuses.set('example.com', { sts_txt_id: 'fail' });
  selfCheck.start(() => set);
  mock.timers.tick(100);
  await roundDone(selfCheck);
  const pick = ({ level, domain, check, from, to, message }: Record<string, unknown>) => ({
    level,
    domain,
    check,
    from,
    to,
    message,
  });
  assert.deepEqual(log.events('health_check').map(pick), [
    { level: 'warn', domain: 'example.com', check: 'sts_txt_id', from: null, to: 'fail', message: 'sts_txt_id is fail' },
  ]);
  mock.timers.tick(900);
  await roundDone(selfCheck);
  assert.equal(log.events('health_check').length, 1, 'the same problem again is not logged again');
  checker.statuses.set('example.com', { mx_covered: 'warn' });
  mock.timers.tick(900);
  await roundDone(selfCheck);
  assert.deepEqual(log.events('health_check').slice(1).map(pick), [
    { level: 'info', domain: 'example.com', check: 'sts_txt_id', from: 'fail', to: 'ok', message: 'sts_txt_id is ok' },
    { level: 'warn', domain: 'example.com', check: 'mx_covered', from: 'ok', to: 'warn', message: 'mx_covered is warn' },
  ]);
  selfCheck.stop();
});

test('after a reload: a changed domain is checked at once, an unchanged one is not, a removed one is forgotten', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const checker = scriptedChecker();
  const { selfCheck } = selfCheckWith(checker);
  let set = setOf('  example.com: { mode: testing, mx: [mx1.example.com] }\n  example.org: { mx: [mx1.example.org] }\n');
  selfCheck.start(() => set);
  mock.timers.tick(100);
  await roundDone(selfCheck);
  assert.deepEqual(
    selfCheck
      .results()
      .map((checked) => checked.report.domain)
      .sort(),
    ['example.com', 'example.org'],
  );
  checker.asked.length = 0;
  set = setOf('  example.com: { mode: enforce, mx: [mx1.example.com] }\n');
  selfCheck.served(set);
  await roundDone(selfCheck);
  assert.deepEqual(checker.asked, ['example.com']);
  assert.deepEqual(
    selfCheck.results().map((checked) => checked.report.domain),
    ['example.com'],
  );
  selfCheck.stop();
});

test('a check that throws is logged as health_check_error and the next round runs', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const checker = scriptedChecker();
  const { selfCheck, log } = selfCheckWith(checker);
  const set = setOf('  example.com: { mode: testing, mx: [mx1.example.com] }\n');
  checker.fail(new Error('resolver exploded'));
  selfCheck.start(() => set);
  mock.timers.tick(100);
  await roundDone(selfCheck);
  assert.deepEqual(
    log.events('health_check_error').map(({ domain, error }) => ({ domain, error })),
    [{ domain: 'example.com', error: 'resolver exploded' }],
  );
  checker.fail(undefined);
  checker.statuses.set('example.com', { sts_txt: 'fail' });
  mock.timers.tick(900);
  await roundDone(selfCheck);
  assert.equal(log.events('health_check')[0]?.check, 'sts_txt');
  selfCheck.stop();
});

const checked = (
  domain: string,
  mx: string[],
  starttls: { host: string; status: CheckStatus; message: string }[],
): CheckedDomain => ({
  checkedAt: new Date('2026-12-01T06:00:00Z'),
  report: {
    domain,
    mode: 'testing',
    status: 'ok',
    checks: [
      result('mx_covered', 'ok', { mx, uncovered: [], unused_patterns: [] }),
      result('mx_starttls', 'ok', { hosts: starttls }),
    ],
  },
});

test('reload risks: enforce over an uncovered or failing MX, a removed pattern that covered a live MX; none without a check', () => {
  const last = new Map([
    [
      'example.com',
      checked(
        'example.com',
        ['mx1.example.com', 'mx2.example.net'],
        [
          { host: 'mx1.example.com', status: 'fail', message: 'the certificate has expired' },
          { host: 'mx2.example.net', status: 'ok', message: 'STARTTLS' },
        ],
      ),
    ],
    ['example.org', checked('example.org', ['mx1.example.org', 'mx2.example.org'], [])],
  ]);
  const before = setOf(
    '  example.com: { mode: testing, mx: [mx1.example.com] }\n  example.org: { mode: enforce, mx: ["*.example.org"] }\n  example.net: { mode: testing, mx: [mx.example.net] }\n',
  );
  const after = setOf(
    '  example.com: { mode: enforce, mx: [mx1.example.com] }\n  example.org: { mode: enforce, mx: [mx1.example.org] }\n  example.net: { mode: enforce, mx: [other.example.net] }\n',
  );
  assert.deepEqual(
    reloadRisks(before, after, (domain) => last.get(domain)),
    [
      'example.com: switched to enforce, but mx2.example.net (an MX in DNS at the last check, 2026-12-01T06:00:00.000Z) is in no mx pattern: senders that enforce will not deliver to it',
      'example.com: switched to enforce, but mx1.example.com failed STARTTLS at the last check, 2026-12-01T06:00:00.000Z (the certificate has expired): senders that enforce will not deliver to it',
      'example.org: mx2.example.org (an MX in DNS at the last check, 2026-12-01T06:00:00.000Z) is in no mx pattern any more; senders that enforce will not deliver to it',
    ],
  );
  // The same change in reverse makes nothing worse.
  assert.deepEqual(
    reloadRisks(after, before, (domain) => last.get(domain)),
    [],
  );
});

test('metrics: each check status as 0/1/2 per domain and check, and when each domain was last checked', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const checker = scriptedChecker();
  const { selfCheck } = selfCheckWith(checker);
  const registry = new Registry();
  registerHealthMetrics(registry, () => selfCheck.results());
  checker.statuses.set('example.com', { sts_txt_id: 'fail', mx_covered: 'warn' });
  const set = setOf('  example.com: { mode: enforce, mx: [mx1.example.com] }\n');
  selfCheck.start(() => set);
  mock.timers.tick(100);
  await roundDone(selfCheck);
  const text = await registry.metrics();
  for (const line of [
    'mta_sts_health_check_status{domain="example.com",check="sts_txt"} 0',
    'mta_sts_health_check_status{domain="example.com",check="sts_txt_id"} 2',
    'mta_sts_health_check_status{domain="example.com",check="mx_covered"} 1',
    `mta_sts_health_checked_timestamp_seconds{domain="example.com"} ${Date.parse('2026-12-01T12:00:00Z') / 1000}`,
  ]) {
    assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
  }
  selfCheck.stop();
});
