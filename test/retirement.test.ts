import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HISTORY_LIMIT,
  lastCachedUntil,
  recordServed,
  retirementsAt,
  SERVED_RECORD_INTERVAL_MS,
  type DomainHistory,
  type ServedPolicyFacts,
} from '../src/policy/retirement.js';

const HOUR = 3_600_000;
const facts = (id: string, mode: 'enforce' | 'testing' | 'none', maxAge: number): ServedPolicyFacts => ({
  id,
  mode,
  maxAge,
  body: `version: STSv1\r\nmode: ${mode}\r\nmax_age: ${maxAge}\r\n`,
});
const empty = (domain: string): DomainHistory => ({ domain, policies: [] });

test('recordServed extends the record of the policy served last, and starts one for a new policy', () => {
  let history = recordServed(empty('example.com'), facts('a', 'testing', 86_400), 1 * HOUR);
  history = recordServed(history, facts('a', 'testing', 86_400), 2 * HOUR);
  assert.deepEqual(history.policies, [{ ...facts('a', 'testing', 86_400), firstServed: 1 * HOUR, lastServed: 2 * HOUR }]);
  history = recordServed(history, facts('b', 'enforce', 604_800), 3 * HOUR);
  history = recordServed(history, facts('a', 'testing', 86_400), 4 * HOUR);
  assert.deepEqual(
    history.policies.map(({ id, firstServed, lastServed }) => [id, firstServed / HOUR, lastServed / HOUR]),
    [
      ['a', 1, 2],
      ['b', 3, 3],
      ['a', 4, 4],
    ],
  );
});

test('lastCachedUntil: the latest end of a testing or enforce cache, allowing for the record interval; mode none does not count', () => {
  assert.equal(lastCachedUntil(empty('example.com')), undefined);
  let history = recordServed(empty('example.com'), facts('n', 'none', 86_400), 0);
  assert.equal(lastCachedUntil(history), undefined);
  // RFC 8461 §5.1: cached for max_age after the last fetch, which can come as late as the last serving.
  history = recordServed(history, facts('long', 'enforce', 604_800), 1 * HOUR);
  history = recordServed(history, facts('short', 'testing', 3_600), 2 * HOUR);
  assert.equal(lastCachedUntil(history), 1 * HOUR + SERVED_RECORD_INTERVAL_MS + 604_800_000);
  history = recordServed(history, facts('short', 'testing', 3_600), 200 * HOUR);
  assert.equal(lastCachedUntil(history), 200 * HOUR + SERVED_RECORD_INTERVAL_MS + 3_600_000);
});

test(`over ${HISTORY_LIMIT} records the oldest expired ones go; one that still bounds a cache is kept`, () => {
  const year = 31_557_600;
  let history = recordServed(empty('example.com'), facts('kept', 'enforce', year), 0);
  for (let i = 0; i < HISTORY_LIMIT + 5; i++) history = recordServed(history, facts(`p${i}`, 'testing', 60), (i + 1) * HOUR);
  assert.equal(history.policies.length, HISTORY_LIMIT);
  assert.equal(history.policies[0]!.id, 'kept');
  // The expired ones went oldest first: p0 to p5; p6 on are kept.
  assert.equal(history.policies[1]!.id, 'p6');
  assert.equal(history.policies.at(-1)!.id, `p${HISTORY_LIMIT + 4}`);
});

test('retirementsAt: removed domains with a cache still running, by name; configured and expired ones are not', () => {
  const served = (domain: string, mode: 'enforce' | 'none', at: number) =>
    recordServed(empty(domain), facts('x', mode, 86_400), at);
  const until = 10 * HOUR + SERVED_RECORD_INTERVAL_MS + 86_400_000;
  const histories = [
    served('b.example', 'enforce', 10 * HOUR),
    served('a.example', 'enforce', 10 * HOUR),
    served('c.example', 'none', 10 * HOUR),
    served('d.example', 'enforce', 0),
    served('kept.example', 'enforce', 10 * HOUR),
  ];
  assert.deepEqual(retirementsAt(new Set(['kept.example']), histories, until - 1), [
    { domain: 'a.example', until },
    { domain: 'b.example', until },
  ]);
  assert.deepEqual(retirementsAt(new Set(), histories, until), []);
});
