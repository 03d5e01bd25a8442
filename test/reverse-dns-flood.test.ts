import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { after, before, test } from 'node:test';
import { ReverseDns, type PtrResult, type ReverseDnsOptions } from '../src/fetches/reverse-dns.js';
import { DNS_TYPE, TestDnsServer } from './support/dns-server.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { reverseDnsTestConfig, startTestService } from './support/service.js';

// Reverse DNS when thousands of senders fetch at once: lookups wait their turn instead of being
// dropped, and one network (/24, /64) flooding does not make the others wait behind it.

let dns: TestDnsServer;

/** Sources: 2 000 from one /64, 250 from one /24, 750 from 150 other /24s. */
const FLOOD_64 = Array.from({ length: 2_000 }, (_, i) => `2001:db8:1:2::${(i + 1).toString(16)}`);
const ONE_24 = Array.from({ length: 250 }, (_, i) => `198.51.100.${i + 1}`);
const OTHER_24S = Array.from({ length: 750 }, (_, i) => `198.18.${Math.floor(i / 5)}.${(i % 5) + 1}`);
const OUTSIDERS = ['192.0.2.7', '203.0.113.9', '192.0.2.200'];
const ALL = [...FLOOD_64, ...ONE_24, ...OTHER_24S, ...OUTSIDERS];

/** Each address's name, under Proofpoint's ptr_domains, and the name resolving back to it. */
const nameOf = (ip: string) => `mx-${ip.replace(/[.:]/g, '-')}.pphosted.com`;

before(async () => {
  dns = await TestDnsServer.start();
  for (const ip of ALL) {
    dns.setPtr(ip, nameOf(ip));
    if (ip.includes(':')) dns.setAAAA(nameOf(ip), [ip]);
    else dns.setA(nameOf(ip), [ip]);
  }
});

after(() => dns.close());

const reverseDns = (options: Partial<ReverseDnsOptions> = {}) =>
  new ReverseDns({
    servers: [`127.0.0.1:${dns.port}`],
    timeoutMs: 10_000,
    maxInFlight: 32,
    maxQueued: 10_000,
    ttlMs: 3_600_000,
    failureTtlMs: 60_000,
    maxEntries: 10_000,
    ...options,
  });

/** Where the PTR question for `ip` came among all PTR questions since `from` (0 = first). */
const ptrQuestionIndex = (ip: string, from: number) =>
  dns.queries
    .slice(from)
    .filter((query) => query.type === DNS_TYPE.PTR)
    .findIndex((query) => query.name === ptrName(ip));

/** The in-addr.arpa / ip6.arpa name the question carries, as the DNS server logs it. */
function ptrName(ip: string): string {
  if (!ip.includes(':')) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const [head = '', tail = ''] = ip.split('::');
  const groups = [
    ...head.split(':'),
    ...Array<string>(8 - head.split(':').length - tail.split(':').length).fill('0'),
    ...tail.split(':'),
  ];
  const nibbles = groups.map((group) => group.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

const confirmed = (ip: string): PtrResult => ({ ptr: nameOf(ip), confirmed: true });

test('2 000 lookups from one /64 at once wait their turn, none busy, and a lookup from another network goes in the next turns', async () => {
  const lookups = reverseDns();
  const from = dns.queries.length;
  const flood = FLOOD_64.map((ip) => lookups.lookup(ip));
  const outsider = lookups.lookup('192.0.2.7');
  assert.deepEqual(await outsider, confirmed('192.0.2.7'));
  assert.deepEqual(await Promise.all(flood), FLOOD_64.map(confirmed));
  // 32 of the flood start at once; the outsider's network has the second turn after them, not the 1 969th.
  const position = ptrQuestionIndex('192.0.2.7', from);
  assert.ok(position >= 0 && position < 2 * 32, `the outsider's PTR question came ${position}th`);
});

test('a full queue answers busy the oldest waiting lookup of the network with the most waiting; busy is not cached', async () => {
  dns.setDelay(100);
  try {
    const lookups = reverseDns({ maxInFlight: 2, maxQueued: 4 });
    const from = dns.queries.length;
    const crowd = ONE_24.slice(0, 6);
    // Two start, four wait: the queue is full.
    const crowdResults = crowd.map((ip) => lookups.lookup(ip));
    const outsiders = OUTSIDERS.slice(0, 2).map((ip) => lookups.lookup(ip));
    const results = await Promise.all([...crowdResults, ...outsiders]);
    assert.deepEqual(results, [
      confirmed(crowd[0]!),
      confirmed(crowd[1]!),
      // Each outsider pushed out the /24's oldest waiting lookup.
      { ptr: null, confirmed: false, error: 'busy' },
      { ptr: null, confirmed: false, error: 'busy' },
      confirmed(crowd[4]!),
      confirmed(crowd[5]!),
      confirmed(OUTSIDERS[0]!),
      confirmed(OUTSIDERS[1]!),
    ]);
    assert.equal(ptrQuestionIndex(crowd[2]!, from), -1, 'a busy lookup asked nothing');
    // Turns go round the three networks: the /24's next, each outsider's, then the /24's last.
    const order = [crowd[4]!, OUTSIDERS[0]!, OUTSIDERS[1]!, crowd[5]!].map((ip) => ptrQuestionIndex(ip, from));
    assert.deepEqual(order, [2, 3, 4, 5]);
    assert.deepEqual(await lookups.lookup(crowd[2]!), confirmed(crowd[2]!));
  } finally {
    dns.setDelay(0);
  }
});

test('a lookup waits at most timeout_ms for its turn: behind a silent server, every answer comes within twice the timeout', async () => {
  dns.setBlackHole(true);
  try {
    const timeoutMs = 500;
    const lookups = reverseDns({ maxInFlight: 1, timeoutMs });
    const started = performance.now();
    const answers = await Promise.all(
      OUTSIDERS.concat(ONE_24.slice(0, 3)).map((ip) =>
        lookups.lookup(ip).then((result) => ({ error: result.error, ms: performance.now() - started })),
      ),
    );
    // The first times out in flight, the next starts then and times out too; the others waited too long: busy.
    assert.deepEqual(
      answers.map((answer) => answer.error),
      ['timeout', 'timeout', 'busy', 'busy', 'busy', 'busy'],
    );
    // Waiting in turn would have taken six timeouts; the bound is two, with room for a busy machine's timers.
    for (const answer of answers) assert.ok(answer.ms < 3 * timeoutMs, `an answer took ${answer.ms.toFixed(0)} ms`);
  } finally {
    dns.setBlackHole(false);
  }
});

test('3 000 distinct senders through the service, with a resolver 50 ms away: every fetch attributed by reverse DNS, none busy', async () => {
  dns.setDelay(50);
  const running = await startTestService(reverseDnsTestConfig(dns.port, 30_000));
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
    const fetchFrom = async (ip: string) =>
      (await fetchPolicy({ port: running.httpsPort, host: 'mta-sts.example.com', ca, agent, headers: { 'x-forwarded-for': ip } }))
        .status;
    // The /64 and the /24 arrive first, the many small networks after them.
    const senders = [...FLOOD_64, ...ONE_24, ...OTHER_24S];
    const statuses = await Promise.all(senders.map(fetchFrom));
    assert.ok(statuses.every((status) => status === 200));
    let ptrLines = 0;
    await running.log.waitFor((line) => line.event === 'policy_fetch_ptr' && ++ptrLines === senders.length, 60_000);
    const byIp = new Map(running.log.events('policy_fetch_ptr').map((line) => [line.ip as string, line]));
    const unattributed = senders.filter((ip) => byIp.get(ip)?.provider !== 'proofpoint');
    assert.deepEqual(
      unattributed.slice(0, 5).map((ip) => byIp.get(ip)),
      [],
      `${unattributed.length} of ${senders.length} not attributed`,
    );
  } finally {
    dns.setDelay(0);
    agent.destroy();
    await running.service.stop();
  }
});
