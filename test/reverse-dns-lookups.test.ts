import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ReverseDns, reverseLookupName, type ReverseDnsOptions } from '../src/fetches/reverse-dns.js';
import { DNS_TYPE, TestDnsServer } from './support/dns-server.js';

// ReverseDns in process against a real DNS server on loopback: what each kind of answer becomes,
// what is cached and for how long, and the bounds on lookups in flight and waiting.

let dns: TestDnsServer;

before(async () => {
  dns = await TestDnsServer.start();
  // PTR data keeps the case its zone wrote it in; the result is lower case.
  dns.setPtr('192.0.2.1', 'Mail-1.Sender.EXAMPLE');
  dns.setA('mail-1.sender.example', ['192.0.2.1']);
  dns.setPtr('192.0.2.2', 'claims.big-provider.example');
  dns.setA('claims.big-provider.example', ['198.51.100.99']);
  dns.setPtr('192.0.2.3', 'dangling.sender.example');
  // A name that exists with no PTR record (NODATA), besides addresses with no name at all (NXDOMAIN).
  dns.setTxt(reverseLookupName('192.0.2.4'), ['not a PTR']);
  dns.setPtr('2001:db8::25', 'mx.sender6.example');
  dns.setAAAA('mx.sender6.example', ['2001:db8::25']);
});

after(() => dns.close());

const reverseDns = (options: Partial<ReverseDnsOptions> = {}) =>
  new ReverseDns({
    servers: [`127.0.0.1:${dns.port}`],
    timeoutMs: 2_000,
    maxInFlight: 4,
    maxQueued: 100,
    ttlMs: 60_000,
    failureTtlMs: 60_000,
    maxEntries: 100,
    ...options,
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many PTR questions for `ip` the server got since `from`. */
const ptrQuestions = (ip: string, from = 0) =>
  dns.queries.slice(from).filter((query) => query.type === DNS_TYPE.PTR && query.name === reverseLookupName(ip)).length;

test('RFC 1035 §3.5 and RFC 3596 §2.5: the reverse-lookup names of IPv4 and IPv6 addresses', () => {
  assert.equal(reverseLookupName('192.0.2.10'), '10.2.0.192.in-addr.arpa');
  assert.equal(reverseLookupName('::ffff:192.0.2.10'), '10.2.0.192.in-addr.arpa');
  assert.equal(reverseLookupName('2001:DB8::a:25'), '5.2.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  assert.throws(() => reverseLookupName('mail.example'), /^Error: not an IP address: mail\.example$/);
});

test('each kind of answer: confirmed, a name that points elsewhere or nowhere, no name at all', async () => {
  const lookups = reverseDns();
  assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: 'mail-1.sender.example', confirmed: true });
  assert.deepEqual(await lookups.lookup('192.0.2.2'), { ptr: 'claims.big-provider.example', confirmed: false });
  assert.deepEqual(await lookups.lookup('192.0.2.3'), { ptr: 'dangling.sender.example', confirmed: false });
  assert.deepEqual(await lookups.lookup('192.0.2.4'), { ptr: null, confirmed: false });
  assert.deepEqual(await lookups.lookup('192.0.2.5'), { ptr: null, confirmed: false });
  // IPv6 is confirmed through AAAA, whatever case the address is written in.
  assert.deepEqual(await lookups.lookup('2001:DB8::25'), { ptr: 'mx.sender6.example', confirmed: true });
  assert.ok(dns.queries.some((query) => query.type === DNS_TYPE.AAAA && query.name === 'mx.sender6.example'));
});

test('a server that fails (SERVFAIL, REFUSED) gives "failed", not "no PTR"; failures are kept briefly, answers long', async () => {
  const lookups = reverseDns({ failureTtlMs: 300 });
  try {
    dns.setFailure('servfail');
    assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: null, confirmed: false, error: 'failed' });
    dns.setFailure('refused');
    assert.deepEqual(await lookups.lookup('2001:db8::25'), { ptr: null, confirmed: false, error: 'failed' });
    dns.setFailure(undefined);
    // Within the failure's time the remembered failure is the answer, and the server is not asked.
    const asked = dns.queries.length;
    assert.equal((await lookups.lookup('192.0.2.1')).error, 'failed');
    assert.equal(dns.queries.length, asked);
    await sleep(400);
    assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: 'mail-1.sender.example', confirmed: true });
    assert.equal(ptrQuestions('192.0.2.1', asked), 1);
    // A real answer is kept for ttlMs, well past the failures' time.
    await sleep(400);
    assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: 'mail-1.sender.example', confirmed: true });
    assert.equal(ptrQuestions('192.0.2.1', asked), 1);
  } finally {
    dns.setFailure(undefined);
  }
});

test('a silent server: the lookup gives up after timeoutMs with "timeout", and is kept as briefly as a failure', async () => {
  const lookups = reverseDns({ timeoutMs: 200, failureTtlMs: 100 });
  dns.setBlackHole(true);
  try {
    const started = performance.now();
    assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: null, confirmed: false, error: 'timeout' });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 1_000, `gave up after ${elapsed} ms`);
  } finally {
    dns.setBlackHole(false);
  }
  await sleep(150);
  assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: 'mail-1.sender.example', confirmed: true });
});

test('answers are cached for ttlMs, the same lookup in flight is shared, and the oldest entry goes when the cache is full', async () => {
  const lookups = reverseDns({ ttlMs: 300, maxEntries: 2 });
  const from = dns.queries.length;
  const [first, second] = await Promise.all([lookups.lookup('192.0.2.1'), lookups.lookup('192.0.2.1')]);
  assert.equal(first, second);
  assert.equal(ptrQuestions('192.0.2.1', from), 1);
  await lookups.lookup('192.0.2.2');
  await lookups.lookup('192.0.2.1');
  assert.equal(ptrQuestions('192.0.2.1', from), 1, 'cached');
  // A third address pushes out the entry made first (192.0.2.1), not the other one.
  await lookups.lookup('192.0.2.3');
  await lookups.lookup('192.0.2.2');
  assert.equal(ptrQuestions('192.0.2.2', from), 1, 'still cached');
  await lookups.lookup('192.0.2.1');
  assert.equal(ptrQuestions('192.0.2.1', from), 2, 'asked again once pushed out');
  await sleep(350);
  await lookups.lookup('192.0.2.1');
  assert.equal(ptrQuestions('192.0.2.1', from), 3, 'asked again once expired');
});

test('past maxInFlight, lookups wait their turn; a full queue answers "busy" the oldest of the network with the most waiting', async () => {
  dns.setDelay(100);
  try {
    const lookups = reverseDns({ maxInFlight: 1, maxQueued: 2 });
    const started = lookups.lookup('192.0.2.1');
    const waitingA = lookups.lookup('198.51.100.1');
    const waitingB = lookups.lookup('198.51.100.2');
    // The queue holds two, both from 198.51.100.0/24: the oldest of them makes room.
    const waitingC = lookups.lookup('192.0.2.2');
    assert.deepEqual(await waitingA, { ptr: null, confirmed: false, error: 'busy' });
    assert.deepEqual(await started, { ptr: 'mail-1.sender.example', confirmed: true });
    assert.deepEqual(await waitingB, { ptr: null, confirmed: false });
    assert.deepEqual(await waitingC, { ptr: 'claims.big-provider.example', confirmed: false });
    // "busy" says nothing about the address: it is not cached, the next lookup asks.
    const from = dns.queries.length;
    assert.deepEqual(await lookups.lookup('198.51.100.1'), { ptr: null, confirmed: false });
    assert.equal(ptrQuestions('198.51.100.1', from), 1);
  } finally {
    dns.setDelay(0);
  }
});

test('a lookup waits at most timeoutMs for its turn, then is answered "busy"; drain waits for every lookup asked for', async () => {
  const lookups = reverseDns({ maxInFlight: 1, timeoutMs: 300 });
  dns.setBlackHole(true);
  try {
    const results = [lookups.lookup('192.0.2.1'), lookups.lookup('192.0.2.2'), lookups.lookup('192.0.2.3')];
    const answered: string[] = [];
    results.forEach((result, index) => void result.then((answer) => answered.push(`${index} ${answer.error}`)));
    await lookups.drain();
    // Every lookup has its answer once drain resolves: the first and second each ran out their time, the third never got a turn.
    assert.deepEqual(answered, ['0 timeout', '2 busy', '1 timeout']);
  } finally {
    dns.setBlackHole(false);
  }
  // Nothing in flight: drain resolves at once.
  await reverseDns().drain();
});

test('fromSettings: the configured servers and timeout', async () => {
  const lookups = ReverseDns.fromSettings({ enabled: true, servers: [`127.0.0.1:${dns.port}`], timeout_ms: 150 });
  assert.deepEqual(await lookups.lookup('192.0.2.1'), { ptr: 'mail-1.sender.example', confirmed: true });
  dns.setBlackHole(true);
  try {
    const started = performance.now();
    assert.equal((await lookups.lookup('192.0.2.9')).error, 'timeout');
    assert.ok(performance.now() - started < 1_000);
  } finally {
    dns.setBlackHole(false);
  }
});

test('cache expiry to the millisecond: an answer is kept ttlMs, a failure failureTtlMs from its answer', async (t) => {
  // Only the clock the cache reads is mocked; the lookups' own deadlines run on real timers.
  const T = Date.parse('2026-11-28T10:00:00.000Z');
  t.mock.timers.enable({ apis: ['Date'], now: T });
  const lookups = reverseDns({ ttlMs: 1_000, failureTtlMs: 100 });
  const from = dns.queries.length;
  await lookups.lookup('192.0.2.1');
  t.mock.timers.setTime(T + 999);
  await lookups.lookup('192.0.2.1');
  assert.equal(ptrQuestions('192.0.2.1', from), 1);
  t.mock.timers.setTime(T + 1_000);
  await lookups.lookup('192.0.2.1');
  assert.equal(ptrQuestions('192.0.2.1', from), 2);

  dns.setFailure('servfail');
  try {
    t.mock.timers.setTime(T + 5_000);
    assert.equal((await lookups.lookup('192.0.2.2')).error, 'failed');
  } finally {
    dns.setFailure(undefined);
  }
  t.mock.timers.setTime(T + 5_099);
  assert.equal((await lookups.lookup('192.0.2.2')).error, 'failed');
  assert.equal(ptrQuestions('192.0.2.2', from), 1);
  t.mock.timers.setTime(T + 5_100);
  assert.deepEqual(await lookups.lookup('192.0.2.2'), { ptr: 'claims.big-provider.example', confirmed: false });
  assert.equal(ptrQuestions('192.0.2.2', from), 2);
});
