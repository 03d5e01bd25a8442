import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FetchSummary, parseLogLine, type FetchLine, type PtrLine } from '../src/fetches/fetch-summary.js';

// `who`'s per-provider totals, in process: what counts as a fetch, how a reverse DNS line moves a
// fetch from "unknown" to a provider, how long a fetch waits for its line, and how log text is read.

const T0 = Date.parse('2026-11-28T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + Math.round(seconds * 1000)).toISOString();

function fetch(seconds: number, ip: string, overrides: Partial<FetchLine> = {}): FetchLine {
  return {
    time: at(seconds),
    domain: 'example.com',
    ip,
    provider: 'unknown',
    provider_claimed: null,
    method: 'GET',
    status: 200,
    policy_id: 'id-1',
    ...overrides,
  };
}

function ptr(seconds: number, ip: string, provider: string, overrides: Partial<PtrLine> = {}): PtrLine {
  return {
    time: at(seconds),
    domain: 'example.com',
    ip,
    ptr: `mx.${provider}.example`,
    provider,
    contradicted: false,
    ...overrides,
  };
}

test('counted: a GET answered with a policy of ours; not a HEAD, not another host, not an answer without a policy', () => {
  const summary = new FetchSummary();
  assert.equal(summary.add(fetch(0, '192.0.2.1')), true);
  assert.equal(summary.add(fetch(1, '192.0.2.1', { method: 'HEAD' })), false);
  assert.equal(summary.add(fetch(2, '192.0.2.1', { domain: null, status: 404, policy_id: null })), false);
  assert.equal(summary.add(fetch(3, '192.0.2.1', { status: 405, method: 'POST', policy_id: null })), false);
  assert.equal(summary.add(fetch(4, '192.0.2.1', { policy_id: null })), false);
  assert.deepEqual(summary.rows(), [
    { provider: 'unknown', fetches: 1, addresses: 1, lastSeen: at(0), lastPolicyId: 'id-1', contradicted: 0 },
  ]);
});

test('rows: fetches, distinct addresses, the latest time and policy id, contradicted claims; most fetches first, then by name', () => {
  const summary = new FetchSummary();
  assert.deepEqual(summary.rows(), []);
  summary.add(fetch(10, '209.85.128.5', { provider: 'google', policy_id: 'id-1' }));
  summary.add(fetch(20, '209.85.128.6', { provider: 'google', policy_id: 'id-2' }));
  // A line from earlier (logs merged from two replicas) does not move the last-seen time back.
  summary.add(fetch(5, '209.85.128.5', { provider: 'google', policy_id: 'id-2' }));
  summary.add(fetch(30, '104.47.1.2', { provider: 'microsoft' }));
  summary.add(fetch(31, '104.47.1.3', { provider: 'microsoft' }));
  summary.add(fetch(40, '203.0.113.7', { provider_claimed: 'google' }));
  summary.add(fetch(41, '203.0.113.8', { provider_claimed: 'google' }));
  summary.add(fetch(42, '203.0.113.8', {}));
  summary.add(fetch(50, '192.0.2.9', { provider: 'yahoo' }));
  summary.add(fetch(51, '192.0.2.9', { provider: 'apple' }));
  assert.deepEqual(summary.rows(), [
    { provider: 'google', fetches: 3, addresses: 2, lastSeen: at(20), lastPolicyId: 'id-2', contradicted: 0 },
    { provider: 'unknown', fetches: 3, addresses: 2, lastSeen: at(42), lastPolicyId: 'id-1', contradicted: 2 },
    { provider: 'microsoft', fetches: 2, addresses: 2, lastSeen: at(31), lastPolicyId: 'id-1', contradicted: 0 },
    { provider: 'apple', fetches: 1, addresses: 1, lastSeen: at(51), lastPolicyId: 'id-1', contradicted: 0 },
    { provider: 'yahoo', fetches: 1, addresses: 1, lastSeen: at(50), lastPolicyId: 'id-1', contradicted: 0 },
  ]);
});

test('a reverse DNS line moves the unknown fetch it belongs to, with its address and claim, and says which fetch it moved', () => {
  const summary = new FetchSummary();
  summary.add(fetch(0, '192.0.2.10', { provider_claimed: 'google' }));
  summary.add(fetch(1, '192.0.2.11'));
  summary.add(fetch(2, '192.0.2.11'));
  assert.deepEqual(summary.rows(), [
    { provider: 'unknown', fetches: 3, addresses: 2, lastSeen: at(2), lastPolicyId: 'id-1', contradicted: 1 },
  ]);

  // Not contradicted: the claim goes with the evidence.
  assert.deepEqual(summary.addPtr(ptr(0.5, '192.0.2.10', 'google')), fetch(0, '192.0.2.10', { provider: 'google' }));
  assert.deepEqual(summary.rows(), [
    { provider: 'unknown', fetches: 2, addresses: 1, lastSeen: at(2), lastPolicyId: 'id-1', contradicted: 0 },
    { provider: 'google', fetches: 1, addresses: 1, lastSeen: at(0), lastPolicyId: 'id-1', contradicted: 0 },
  ]);

  // The address stays with unknown while one of its fetches is still there.
  assert.deepEqual(summary.addPtr(ptr(1.5, '192.0.2.11', 'proofpoint')), fetch(1, '192.0.2.11', { provider: 'proofpoint' }));
  assert.deepEqual(summary.rows(), [
    { provider: 'google', fetches: 1, addresses: 1, lastSeen: at(0), lastPolicyId: 'id-1', contradicted: 0 },
    { provider: 'proofpoint', fetches: 1, addresses: 1, lastSeen: at(1), lastPolicyId: 'id-1', contradicted: 0 },
    { provider: 'unknown', fetches: 1, addresses: 1, lastSeen: at(2), lastPolicyId: 'id-1', contradicted: 0 },
  ]);

  // The last unknown fetch moved: unknown has no row left.
  assert.deepEqual(summary.addPtr(ptr(2.5, '192.0.2.11', 'proofpoint')), fetch(2, '192.0.2.11', { provider: 'proofpoint' }));
  assert.deepEqual(
    summary.rows().map((row) => [row.provider, row.fetches, row.addresses, row.lastSeen]),
    [
      ['proofpoint', 2, 1, at(2)],
      ['google', 1, 1, at(0)],
    ],
  );
  // Nothing waits any more at that address.
  assert.equal(summary.addPtr(ptr(3, '192.0.2.11', 'proofpoint')), undefined);
});

test('a contradicted reverse DNS verdict keeps the claim; an unknown verdict moves nothing', () => {
  const summary = new FetchSummary();
  summary.add(fetch(0, '198.51.100.1', { provider_claimed: 'google' }));
  summary.add(fetch(1, '198.51.100.2', { provider_claimed: 'google' }));
  assert.equal(summary.addPtr(ptr(0.5, '198.51.100.1', 'unknown', { contradicted: true })), undefined);
  assert.deepEqual(
    summary.addPtr(ptr(1.5, '198.51.100.2', 'microsoft', { contradicted: true })),
    fetch(1, '198.51.100.2', { provider: 'microsoft', provider_claimed: 'google' }),
  );
  assert.deepEqual(summary.rows(), [
    { provider: 'microsoft', fetches: 1, addresses: 1, lastSeen: at(1), lastPolicyId: 'id-1', contradicted: 1 },
    { provider: 'unknown', fetches: 1, addresses: 1, lastSeen: at(1), lastPolicyId: 'id-1', contradicted: 1 },
  ]);
});

test('reverse DNS lines pair with requests in order per domain and address, those not counted included', () => {
  const summary = new FetchSummary();
  // The HEAD is not counted, but its reverse DNS line comes all the same and is the first at that address.
  summary.add(fetch(0, '192.0.2.20', { method: 'HEAD' }));
  summary.add(fetch(1, '192.0.2.20'));
  // The same address fetching another domain waits in its own line.
  summary.add(fetch(2, '192.0.2.20', { domain: 'example.org' }));
  // Attributed already: no reverse DNS line is waited for.
  summary.add(fetch(3, '192.0.2.21', { provider: 'google' }));
  assert.equal(summary.addPtr(ptr(3.5, '192.0.2.21', 'google')), undefined);
  assert.equal(summary.addPtr(ptr(4, '192.0.2.20', 'proofpoint')), undefined, 'the HEAD is moved nowhere');
  assert.deepEqual(summary.addPtr(ptr(5, '192.0.2.20', 'proofpoint', { domain: 'example.org' })), {
    ...fetch(2, '192.0.2.20', { domain: 'example.org' }),
    provider: 'proofpoint',
  });
  assert.deepEqual(summary.addPtr(ptr(6, '192.0.2.20', 'proofpoint')), fetch(1, '192.0.2.20', { provider: 'proofpoint' }));
  assert.deepEqual(
    summary.rows().map((row) => [row.provider, row.fetches]),
    [
      ['proofpoint', 2],
      ['google', 1],
    ],
  );
});

test('a fetch waits 90 s for its reverse DNS line, to the millisecond; then a later fetch at its address takes the line', () => {
  const summary = new FetchSummary();
  summary.add(fetch(0, '192.0.2.30'));
  assert.deepEqual(summary.addPtr(ptr(90, '192.0.2.30', 'proofpoint')), fetch(0, '192.0.2.30', { provider: 'proofpoint' }));

  summary.add(fetch(100, '192.0.2.31'));
  assert.equal(summary.addPtr(ptr(190.001, '192.0.2.31', 'proofpoint')), undefined);

  // The first fetch is forgotten when the second comes 100 s later: the line that follows is the second's.
  summary.add(fetch(200, '192.0.2.32'));
  summary.add(fetch(300, '192.0.2.32'));
  assert.deepEqual(summary.addPtr(ptr(300.5, '192.0.2.32', 'proofpoint')), fetch(300, '192.0.2.32', { provider: 'proofpoint' }));
  assert.deepEqual(
    summary.rows().map((row) => [row.provider, row.fetches]),
    [
      ['proofpoint', 2],
      ['unknown', 2],
    ],
  );
});

test('forgetting a fetch that already has its reverse DNS line takes nothing else from its address', () => {
  const summary = new FetchSummary();
  summary.add(fetch(0, '192.0.2.40')); // waits longest, and is forgotten first
  summary.add(fetch(1, '192.0.2.41'));
  summary.add(fetch(2, '192.0.2.41'));
  assert.ok(summary.addPtr(ptr(3, '192.0.2.41', 'proofpoint'))); // the fetch at 1 s has its line
  // At 91 s the fetches at 0 s and (settled) 1 s leave the log order; the one at 2 s still waits.
  summary.add(fetch(91, '192.0.2.42'));
  assert.deepEqual(summary.addPtr(ptr(91.5, '192.0.2.41', 'proofpoint')), fetch(2, '192.0.2.41', { provider: 'proofpoint' }));
});

test('a line with an unreadable time is never waited for', () => {
  const summary = new FetchSummary();
  assert.equal(summary.add(fetch(0, '192.0.2.50', { time: 'not a time' })), true);
  assert.equal(summary.addPtr(ptr(0.5, '192.0.2.50', 'proofpoint')), undefined);
  assert.deepEqual(summary.rows()[0]!.provider, 'unknown');
});

test('thousands of fetches waiting at once at one address pair with their lines in order', () => {
  const summary = new FetchSummary();
  const waiting = 3_000;
  for (let i = 0; i < waiting; i++) summary.add(fetch(i / 100, '192.0.2.60', { policy_id: `id-${i}` }));
  for (let i = 0; i < waiting; i++) {
    const moved = summary.addPtr(ptr(30 + i / 100, '192.0.2.60', 'proofpoint'));
    assert.equal(moved?.policy_id, `id-${i}`);
  }
  assert.equal(summary.addPtr(ptr(61, '192.0.2.60', 'proofpoint')), undefined);
  assert.deepEqual(summary.rows(), [
    {
      provider: 'proofpoint',
      fetches: waiting,
      addresses: 1,
      lastSeen: at((waiting - 1) / 100),
      lastPolicyId: `id-${waiting - 1}`,
      contradicted: 0,
    },
  ]);
});

test('parseLogLine: policy_fetch and policy_fetch_ptr lines as who reads them; anything else is skipped', () => {
  const fetchText = JSON.stringify({
    level: 'info',
    time: '2026-11-28T10:01:00.000Z',
    event: 'policy_fetch',
    domain: 'example.com',
    host: 'mta-sts.example.com',
    ip: '209.85.128.5',
    ua: 'Google-SMTP-STS',
    provider: 'unknown',
    provider_evidence: 'none',
    provider_claimed: 'google',
    method: 'GET',
    status: 200,
    policy_id: 'aaa111',
  });
  assert.deepEqual(parseLogLine(fetchText), {
    fetch: {
      time: '2026-11-28T10:01:00.000Z',
      domain: 'example.com',
      ip: '209.85.128.5',
      provider: 'unknown',
      provider_claimed: 'google',
      method: 'GET',
      status: 200,
      policy_id: 'aaa111',
    },
  });
  // Fields of the wrong type (a forged or foreign line) read as absent.
  assert.deepEqual(
    parseLogLine(
      JSON.stringify({
        event: 'policy_fetch',
        ip: '192.0.2.1',
        provider: 'google',
        domain: 7,
        provider_claimed: 1,
        method: 2,
        status: '404',
        policy_id: 3,
      }),
    ),
    {
      fetch: {
        time: '',
        domain: null,
        ip: '192.0.2.1',
        provider: 'google',
        provider_claimed: null,
        method: '',
        status: 404,
        policy_id: null,
      },
    },
  );
  assert.deepEqual(
    parseLogLine(
      JSON.stringify({
        time: '2026-11-28T10:01:00.400Z',
        event: 'policy_fetch_ptr',
        domain: 'example.com',
        ip: '192.0.2.10',
        ptr: 'mx0a.pphosted.com',
        provider: 'proofpoint',
        contradicted: true,
      }),
    ),
    {
      ptr: {
        time: '2026-11-28T10:01:00.400Z',
        domain: 'example.com',
        ip: '192.0.2.10',
        ptr: 'mx0a.pphosted.com',
        provider: 'proofpoint',
        contradicted: true,
      },
    },
  );
  assert.deepEqual(
    parseLogLine(
      JSON.stringify({
        time: 12,
        event: 'policy_fetch_ptr',
        domain: null,
        ip: '192.0.2.10',
        ptr: null,
        provider: 'unknown',
        contradicted: 'yes',
      }),
    ),
    { ptr: { time: '12', domain: null, ip: '192.0.2.10', ptr: null, provider: 'unknown', contradicted: false } },
  );
  for (const text of [
    '',
    'policy_fetch {"event":"policy_fetch"}',
    ' {"event":"policy_fetch","ip":"192.0.2.1","provider":"google"}',
    '{"event":"policy_fetch","ip":"192.0.2.1","provider":"google"',
    '{"event":"policy_fetch","provider":"google"}',
    '{"event":"policy_fetch","ip":"192.0.2.1"}',
    '{"event":"policy_fetch","ip":1,"provider":"google"}',
    '{"event":"policy_fetch","ip":"192.0.2.1","provider":null}',
    '{"event":"service_started","ip":"192.0.2.1","provider":"google"}',
    '{"ip":"192.0.2.1","provider":"google"}',
  ])
    assert.equal(parseLogLine(text), undefined, text);
});
