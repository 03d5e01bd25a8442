import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { LogLimit } from '../src/fetches/log-limit.js';
import { createLogger } from '../src/log/logger.js';
import { LogCapture } from './support/log-capture.js';

// The log budget in process, on node:test's mocked clock: clock-aligned windows, the budget per
// address, the log_suppressed line (when, what it says), and the table of addresses it keeps.

const T0 = Date.parse('2026-11-28T10:00:30.000Z');
const MINUTE = '2026-11-28T10:00:00.000Z';
const NEXT_MINUTE = '2026-11-28T10:01:00.000Z';

/** A limit on a mocked clock set to T0 (the middle of a minute), and what it logs. */
function limitOnClock(t: TestContext, limits: ConstructorParameters<typeof LogLimit>[1]) {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 });
  const log = new LogCapture();
  return { log, limit: new LogLimit(createLogger('info', log), limits) };
}

const admitted = (limit: LogLimit, ip: string, times: number) =>
  Array.from({ length: times }, () => limit.admit(ip)).filter(Boolean).length;

const suppressedLines = (log: LogCapture) =>
  log.events('log_suppressed').map(({ ip, suppressed, since, until, msg }) => ({ ip, suppressed, since, until, msg }));

test('the defaults: 20 lines per address a minute', (t) => {
  const { log, limit } = limitOnClock(t, undefined);
  assert.equal(admitted(limit, '192.0.2.1', 25), 20);
  limit.close();
  assert.deepEqual(suppressedLines(log), [
    {
      ip: '192.0.2.1',
      suppressed: 5,
      since: MINUTE,
      until: '2026-11-28T10:00:30.000Z',
      msg: '5 lines for requests from 192.0.2.1 that were not policy fetches left out (at most 20 per address in 60 s)',
    },
  ]);
});

test('each address has its own budget; the count is written when the clock minute ends, not before, even with no request after', (t) => {
  const { log, limit } = limitOnClock(t, { linesPerAddress: 3 });
  assert.equal(admitted(limit, '192.0.2.1', 10), 3);
  assert.equal(admitted(limit, '2001:db8::1', 4), 3);
  assert.equal(admitted(limit, '192.0.2.2', 3), 3);
  t.mock.timers.tick(29_999);
  assert.equal(log.lines.length, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(suppressedLines(log), [
    {
      ip: '192.0.2.1',
      suppressed: 7,
      since: MINUTE,
      until: NEXT_MINUTE,
      msg: '7 lines for requests from 192.0.2.1 that were not policy fetches left out (at most 3 per address in 60 s)',
    },
    {
      ip: '2001:db8::1',
      suppressed: 1,
      since: MINUTE,
      until: NEXT_MINUTE,
      msg: '1 lines for requests from 2001:db8::1 that were not policy fetches left out (at most 3 per address in 60 s)',
    },
  ]);
  assert.equal(log.lines[0]!.level, 'info');
  // The new minute has a full budget again, and a count of its own.
  assert.equal(admitted(limit, '192.0.2.1', 4), 3);
  limit.close();
  assert.deepEqual(
    suppressedLines(log)
      .slice(2)
      .map(({ ip, suppressed, since, until }) => [ip, suppressed, since, until]),
    [['192.0.2.1', 1, NEXT_MINUTE, NEXT_MINUTE]],
  );
});

test('a request in a later window writes the earlier window’s count first, its end at the window’s end', (t) => {
  const { log, limit } = limitOnClock(t, { linesPerAddress: 1, windowMs: 10_000 });
  assert.equal(admitted(limit, '192.0.2.1', 3), 1);
  // The clock jumps past the window's end (a suspended machine): the timer has not run yet.
  t.mock.timers.setTime(T0 + 25_000);
  assert.equal(limit.admit('192.0.2.1'), true);
  assert.deepEqual(
    suppressedLines(log).map(({ ip, suppressed, since, until, msg }) => [ip, suppressed, since, until, msg]),
    [
      [
        '192.0.2.1',
        2,
        '2026-11-28T10:00:30.000Z',
        '2026-11-28T10:00:40.000Z',
        '2 lines for requests from 192.0.2.1 that were not policy fetches left out (at most 1 per address in 10 s)',
      ],
    ],
  );
  // The old window's timer was cancelled: nothing more is written when it would have run.
  t.mock.timers.tick(60_000);
  assert.equal(log.events('log_suppressed').length, 1);
});

test('a window with nothing left out writes nothing; close after a written window writes nothing again', (t) => {
  const { log, limit } = limitOnClock(t, { linesPerAddress: 2 });
  assert.equal(admitted(limit, '192.0.2.1', 2), 2);
  limit.close();
  t.mock.timers.tick(120_000);
  assert.equal(log.lines.length, 0);

  assert.equal(admitted(limit, '192.0.2.1', 3), 2);
  limit.close();
  limit.close();
  t.mock.timers.tick(120_000);
  assert.equal(log.events('log_suppressed').length, 1);
});

test('past maxAddresses in a window, the other addresses share one budget and one count (ip null)', (t) => {
  const { log, limit } = limitOnClock(t, { linesPerAddress: 2, maxAddresses: 2 });
  assert.equal(admitted(limit, '192.0.2.1', 3), 2);
  assert.equal(admitted(limit, '192.0.2.2', 2), 2);
  // The third and fourth address share the budget of one.
  assert.equal(admitted(limit, '192.0.2.3', 1), 1);
  assert.equal(admitted(limit, '192.0.2.4', 3), 1);
  // Addresses in the table keep their own budget.
  assert.equal(admitted(limit, '192.0.2.2', 1), 0);
  t.mock.timers.tick(30_000);
  assert.deepEqual(
    suppressedLines(log).map(({ ip, suppressed, msg }) => [ip, suppressed, msg]),
    [
      [
        '192.0.2.1',
        1,
        '1 lines for requests from 192.0.2.1 that were not policy fetches left out (at most 2 per address in 60 s)',
      ],
      [
        '192.0.2.2',
        1,
        '1 lines for requests from 192.0.2.2 that were not policy fetches left out (at most 2 per address in 60 s)',
      ],
      [
        null,
        2,
        '2 lines for requests from addresses beyond the first 2 that were not policy fetches left out (at most 2 per address in 60 s)',
      ],
    ],
  );
  // The next window starts with an empty table and a fresh shared budget.
  assert.equal(admitted(limit, '192.0.2.3', 2), 2);
  assert.equal(admitted(limit, '192.0.2.4', 2), 2);
  assert.equal(admitted(limit, '192.0.2.5', 3), 2);
  limit.close();
  assert.deepEqual(
    log
      .events('log_suppressed')
      .slice(3)
      .map(({ ip, suppressed }) => [ip, suppressed]),
    [[null, 1]],
  );
});
