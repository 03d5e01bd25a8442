import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FetchSummary, parseLogLine } from '../src/fetches/fetch-summary.js';

// `who` on a busy log: every line costs the same however many requests wait for their reverse DNS line.

const FETCHES = 100_000;
const ADDRESSES = 20_000;
const PTR_AFTER_MS = 30_000;
const T0 = Date.parse('2026-11-28T10:00:00.000Z');
const POLICY_ID = 'a5963b31a082635c6ec66817';

const iso = (ms: number) => new Date(ms).toISOString();
/** Address `n` of 198.18.0.0/15 (the benchmarking range). */
const address = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;

/**
 * A log of FETCHES requests from unknown senders, one a millisecond from ADDRESSES addresses (each
 * comes back every 20 s), each with its reverse DNS line 30 s later: some 30 000 requests wait for
 * theirs at any time, and an address has two waiting at once. Even requests are Proofpoint by
 * reverse DNS, odd ones stay unknown; every tenth odd one is a HEAD, which is not counted.
 */
function* busyLog(): Iterable<string> {
  let nextPtr = 0;
  const ptrLine = (i: number) =>
    JSON.stringify({
      level: 'info',
      time: iso(T0 + i + PTR_AFTER_MS),
      event: 'policy_fetch_ptr',
      domain: 'example.com',
      ip: address(i % ADDRESSES),
      ptr: i % 2 === 0 ? `mx0a-${i % ADDRESSES}.pphosted.com` : null,
      ptr_confirmed: i % 2 === 0,
      ptr_provider: i % 2 === 0 ? 'proofpoint' : null,
      provider: i % 2 === 0 ? 'proofpoint' : 'unknown',
      provider_evidence: i % 2 === 0 ? 'ptr' : 'none',
      contradicted: false,
    });
  for (let i = 0; i < FETCHES; i++) {
    for (; nextPtr + PTR_AFTER_MS <= i; nextPtr++) yield ptrLine(nextPtr);
    yield JSON.stringify({
      level: 'info',
      time: iso(T0 + i),
      event: 'policy_fetch',
      domain: 'example.com',
      host: 'mta-sts.example.com',
      ip: address(i % ADDRESSES),
      ua: '',
      provider: 'unknown',
      provider_evidence: 'none',
      provider_claimed: null,
      method: i % 10 === 9 ? 'HEAD' : 'GET',
      status: 200,
      policy_id: POLICY_ID,
      tls: 'TLSv1.3',
      response_ms: 0.2,
    });
  }
  for (; nextPtr < FETCHES; nextPtr++) yield ptrLine(nextPtr);
}

test('who: 200 000 lines with some 30 000 requests waiting for their reverse DNS, each paired with its own', () => {
  const summary = new FetchSummary();
  let lines = 0;
  let counted = 0;
  let moved = 0;
  for (const text of busyLog()) {
    lines++;
    const line = parseLogLine(text)!;
    if ('fetch' in line) counted += summary.add(line.fetch) ? 1 : 0;
    else if (summary.addPtr(line.ptr)) moved++;
  }
  assert.equal(lines, 2 * FETCHES);
  assert.equal(counted, 90_000);
  assert.equal(moved, 50_000);
  const lastFetch = iso(T0 + FETCHES - 2);
  assert.deepEqual(summary.rows(), [
    { provider: 'proofpoint', fetches: 50_000, addresses: 10_000, lastSeen: lastFetch, lastPolicyId: POLICY_ID, contradicted: 0 },
    { provider: 'unknown', fetches: 40_000, addresses: 8_000, lastSeen: lastFetch, lastPolicyId: POLICY_ID, contradicted: 0 },
  ]);
});
