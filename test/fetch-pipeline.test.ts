import assert from 'node:assert/strict';
import { closeSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Attribution, PolicyFetch } from '../src/fetches/fetch-log.js';
import { LogLimit } from '../src/fetches/log-limit.js';
import { createFetchPipeline, type FetchSink } from '../src/fetches/pipeline.js';
import { ProviderClassifier, type ProviderVerdict } from '../src/fetches/providers.js';
import { ReverseDns, reverseLookupName } from '../src/fetches/reverse-dns.js';
import { createLogger, LogWriter } from '../src/log/logger.js';
import { DNS_TYPE, TestDnsServer } from './support/dns-server.js';
import { LogCapture } from './support/log-capture.js';
import { scratchFile } from './support/scratch-file.js';

// One fetch, one way: responder → fetch log → attribution (reverse DNS) → sinks, in process, with
// a real provider list, real lookups against the tests' DNS server and a real log limit.

const classifier = ProviderClassifier.fromData(
  {
    providers: {
      google: { name: 'Google', user_agents: ['^Google-SMTP-STS'], ranges: ['209.85.128.0/17'], ptr_domains: ['google.com'] },
      microsoft: { name: 'Microsoft', user_agents: [], ranges: ['104.47.0.0/17'], ptr_domains: ['outlook.com'] },
      proofpoint: { name: 'Proofpoint', user_agents: [], ranges: [], ptr_domains: ['pphosted.com'] },
    },
  },
  'test providers',
);

let dns: TestDnsServer;

/** A confirmed PTR: the name points back to the address. */
function confirmed(ip: string, name: string): void {
  dns.setPtr(ip, name);
  dns.setA(name, [ip]);
}

before(async () => {
  dns = await TestDnsServer.start();
  confirmed('209.85.128.5', 'mail-a.google.com');
  confirmed('209.85.128.6', 'relay.hosting.example');
  confirmed('198.51.100.10', 'mx1.pphosted.com');
  confirmed('198.51.100.11', 'mx2.pphosted.com');
  confirmed('198.51.100.12', 'mail-b.google.com');
  confirmed('104.47.1.2', 'mx3.pphosted.com');
  dns.setPtr('198.51.100.13', 'fake.google.com');
  dns.setA('fake.google.com', ['192.0.2.99']);
  confirmed('172.32.0.1', 'mx4.pphosted.com');
  confirmed('100.128.0.1', 'mx5.pphosted.com');
});

after(() => dns.close());

const fetchFrom = (ip: string, ua = '', overrides: Partial<PolicyFetch> = {}): PolicyFetch => ({
  host: 'mta-sts.example.com',
  domain: 'example.com',
  ip,
  ua,
  method: 'GET',
  status: 200,
  policyId: 'id-1',
  tls: 'TLSv1.3',
  responseMs: 0.25,
  ...overrides,
});

/** A sink that writes down what it is told, with how many log lines there were at that moment. */
class RecordingSink implements FetchSink {
  readonly fetches: { ip: string; verdict: ProviderVerdict; linesBefore: number }[] = [];
  readonly attributions: { ip: string; attribution: Attribution; linesBefore: number }[] = [];
  closedAfterLines = -1;

  constructor(private readonly log: LogCapture) {}

  fetched(fetch: PolicyFetch, verdict: ProviderVerdict): void {
    this.fetches.push({ ip: fetch.ip, verdict, linesBefore: this.log.lines.length });
  }

  attributed(fetch: PolicyFetch, attribution: Attribution): void {
    this.attributions.push({ ip: fetch.ip, attribution, linesBefore: this.log.lines.length });
  }

  close(): void {
    this.closedAfterLines = this.log.lines.length;
  }
}

function pipelineWith(options: { reverseDns?: ReverseDns; limit?: (log: LogCapture) => LogLimit } = {}) {
  const log = new LogCapture();
  const sink = new RecordingSink(log);
  const pipeline = createFetchPipeline({
    log: createLogger('info', log),
    classifier: () => classifier,
    sinks: [sink],
    ...(options.reverseDns && { reverseDns: options.reverseDns }),
    ...(options.limit && { limit: options.limit(log) }),
  });
  return { log, sink, pipeline };
}

const lookups = () =>
  new ReverseDns({
    servers: [`127.0.0.1:${dns.port}`],
    timeoutMs: 2_000,
    maxInFlight: 8,
    maxQueued: 100,
    ttlMs: 60_000,
    failureTtlMs: 60_000,
    maxEntries: 100,
  });

const withoutTime = ({ time: _time, ...rest }: Record<string, unknown>) => rest;

test('the policy_fetch line: every field, client text escaped and cut, the response time to the microsecond', async () => {
  const { log, sink, pipeline } = pipelineWith();
  pipeline.record(fetchFrom('209.85.128.5', 'Google-SMTP-STS', { host: 'mta-sts.example.com\u009b2J', responseMs: 1.23456 }));
  pipeline.record(fetchFrom('198.51.100.1', `Google-SMTP-STS ${'x'.repeat(300)}`, { method: 'HEAD', tls: null }));
  pipeline.record(fetchFrom('203.0.113.9', 'curl/8', { domain: null, host: 'other.example', status: 404, policyId: null }));
  await pipeline.close();
  assert.deepEqual(log.lines.map(withoutTime), [
    {
      level: 'info',
      event: 'policy_fetch',
      domain: 'example.com',
      host: 'mta-sts.example.com\\u009b2J',
      ip: '209.85.128.5',
      ua: 'Google-SMTP-STS',
      provider: 'google',
      provider_evidence: 'ua+ip',
      provider_claimed: null,
      method: 'GET',
      status: 200,
      policy_id: 'id-1',
      tls: 'TLSv1.3',
      response_ms: 1.235,
    },
    {
      level: 'info',
      event: 'policy_fetch',
      domain: 'example.com',
      host: 'mta-sts.example.com',
      ip: '198.51.100.1',
      ua: `Google-SMTP-STS ${'x'.repeat(240)}…(+60)`,
      provider: 'unknown',
      provider_evidence: 'none',
      provider_claimed: 'google',
      method: 'HEAD',
      status: 200,
      policy_id: 'id-1',
      tls: null,
      response_ms: 0.25,
    },
    {
      level: 'info',
      event: 'policy_fetch',
      domain: null,
      host: 'other.example',
      ip: '203.0.113.9',
      ua: 'curl/8',
      provider: 'unknown',
      provider_evidence: 'none',
      provider_claimed: null,
      method: 'GET',
      status: 404,
      policy_id: null,
      tls: 'TLSv1.3',
      response_ms: 0.25,
    },
  ]);
  // Without reverse DNS, attribution is final at once: the verdict of address and user agent.
  assert.deepEqual(
    sink.attributions.map(({ ip, attribution, linesBefore }) => [ip, attribution, linesBefore]),
    [
      ['209.85.128.5', { provider: 'google', claimed: false }, 1],
      ['198.51.100.1', { provider: 'unknown', claimed: true }, 2],
      ['203.0.113.9', { provider: 'unknown', claimed: false }, 3],
    ],
  );
  assert.deepEqual(
    sink.fetches.map(({ ip, verdict, linesBefore }) => [ip, verdict, linesBefore]),
    [
      ['209.85.128.5', { provider: 'google', evidence: 'ua+ip' }, 1],
      ['198.51.100.1', { provider: 'unknown', evidence: 'none', claimed: 'google' }, 2],
      ['203.0.113.9', { provider: 'unknown', evidence: 'none' }, 3],
    ],
  );
  assert.equal(sink.closedAfterLines, 3);
});

/** The policy_fetch_ptr line for `ip`, without its time and level. */
const ptrLine = (log: LogCapture, ip: string) => {
  const { time: _time, level: _level, ...rest } = log.events('policy_fetch_ptr').find((line) => line.ip === ip)!;
  return rest;
};

test('reverse DNS: a second line per public address, and attribution once it answers', async () => {
  const { log, sink, pipeline } = pipelineWith({ reverseDns: lookups() });
  const cases: [ip: string, ua: string][] = [
    ['209.85.128.5', 'Google-SMTP-STS'],
    ['209.85.128.6', 'Google-SMTP-STS'],
    ['198.51.100.10', ''],
    ['198.51.100.11', 'Google-SMTP-STS'],
    ['198.51.100.12', 'Google-SMTP-STS'],
    ['104.47.1.2', ''],
    ['198.51.100.13', ''],
    ['198.51.100.14', ''],
  ];
  for (const [ip, ua] of cases) pipeline.record(fetchFrom(ip, ua));
  // Every fetch line is written at once; the attributions come with the reverse DNS lines.
  assert.equal(log.events('policy_fetch').length, cases.length);
  assert.equal(sink.attributions.length, 0);
  await pipeline.close();

  const base = { event: 'policy_fetch_ptr', domain: 'example.com' };
  assert.deepEqual(ptrLine(log, '209.85.128.5'), {
    ...base,
    ip: '209.85.128.5',
    ptr: 'mail-a.google.com',
    ptr_confirmed: true,
    ptr_provider: 'google',
    provider: 'google',
    provider_evidence: 'ua+ip+ptr',
    contradicted: false,
  });
  // A confirmed name of no provider adds nothing.
  assert.deepEqual(ptrLine(log, '209.85.128.6'), {
    ...base,
    ip: '209.85.128.6',
    ptr: 'relay.hosting.example',
    ptr_confirmed: true,
    ptr_provider: null,
    provider: 'google',
    provider_evidence: 'ua+ip',
    contradicted: false,
  });
  // An address no range covers: the confirmed name decides.
  assert.deepEqual(ptrLine(log, '198.51.100.10'), {
    ...base,
    ip: '198.51.100.10',
    ptr: 'mx1.pphosted.com',
    ptr_confirmed: true,
    ptr_provider: 'proofpoint',
    provider: 'proofpoint',
    provider_evidence: 'ptr',
    contradicted: false,
  });
  // A user agent claiming another provider than the confirmed name: contradicted.
  assert.deepEqual(ptrLine(log, '198.51.100.11'), {
    ...base,
    ip: '198.51.100.11',
    ptr: 'mx2.pphosted.com',
    ptr_confirmed: true,
    ptr_provider: 'proofpoint',
    provider: 'proofpoint',
    provider_evidence: 'ptr',
    contradicted: true,
  });
  // A user agent's claim the confirmed name bears out is no longer a contradiction.
  assert.deepEqual(ptrLine(log, '198.51.100.12'), {
    ...base,
    ip: '198.51.100.12',
    ptr: 'mail-b.google.com',
    ptr_confirmed: true,
    ptr_provider: 'google',
    provider: 'google',
    provider_evidence: 'ptr',
    contradicted: false,
  });
  // The address decides over a confirmed name of another provider, which contradicts it.
  assert.deepEqual(ptrLine(log, '104.47.1.2'), {
    ...base,
    ip: '104.47.1.2',
    ptr: 'mx3.pphosted.com',
    ptr_confirmed: true,
    ptr_provider: 'proofpoint',
    provider: 'microsoft',
    provider_evidence: 'ip',
    contradicted: true,
  });
  // A name that does not point back names no provider, whatever it says.
  assert.deepEqual(ptrLine(log, '198.51.100.13'), {
    ...base,
    ip: '198.51.100.13',
    ptr: 'fake.google.com',
    ptr_confirmed: false,
    ptr_provider: null,
    provider: 'unknown',
    provider_evidence: 'none',
    contradicted: false,
  });
  assert.deepEqual(ptrLine(log, '198.51.100.14'), {
    ...base,
    ip: '198.51.100.14',
    ptr: null,
    ptr_confirmed: false,
    ptr_provider: null,
    provider: 'unknown',
    provider_evidence: 'none',
    contradicted: false,
  });
  const attributions = Object.fromEntries(sink.attributions.map(({ ip, attribution }) => [ip, attribution]));
  assert.deepEqual(attributions, {
    '209.85.128.5': { provider: 'google', claimed: false },
    '209.85.128.6': { provider: 'google', claimed: false },
    '198.51.100.10': { provider: 'proofpoint', claimed: false },
    '198.51.100.11': { provider: 'proofpoint', claimed: true },
    '198.51.100.12': { provider: 'google', claimed: false },
    '104.47.1.2': { provider: 'microsoft', claimed: false },
    '198.51.100.13': { provider: 'unknown', claimed: false },
    '198.51.100.14': { provider: 'unknown', claimed: false },
  });
  // Each attribution came after its reverse DNS line; the sink closed after all of them.
  for (const { ip, linesBefore } of sink.attributions)
    assert.equal(log.lines[linesBefore - 1]!.ip, ip, `attribution of ${ip} follows its line`);
  assert.equal(sink.closedAfterLines, log.lines.length);
});

test('a failing DNS server: the reverse DNS line says ptr_error "failed", not that there is no PTR', async () => {
  const { log, sink, pipeline } = pipelineWith({ reverseDns: lookups() });
  dns.setFailure('servfail');
  try {
    pipeline.record(fetchFrom('198.51.100.10'));
    await pipeline.close();
  } finally {
    dns.setFailure(undefined);
  }
  assert.deepEqual(ptrLine(log, '198.51.100.10'), {
    event: 'policy_fetch_ptr',
    domain: 'example.com',
    ip: '198.51.100.10',
    ptr: null,
    ptr_confirmed: false,
    ptr_provider: null,
    provider: 'unknown',
    provider_evidence: 'none',
    contradicted: false,
    ptr_error: 'failed',
  });
  assert.deepEqual(sink.attributions[0]?.attribution, { provider: 'unknown', claimed: false });
});

test('loopback, private and link-local addresses are not looked up; the edges of those ranges are', async () => {
  const { log, sink, pipeline } = pipelineWith({ reverseDns: lookups() });
  const from = dns.queries.length;
  const notPublic = [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.5.4',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.1.1',
    '100.64.0.1',
    '::1',
    'fd00::1',
    'fe80::1',
  ];
  for (const ip of notPublic) pipeline.record(fetchFrom(ip));
  pipeline.record(fetchFrom('172.32.0.1'));
  pipeline.record(fetchFrom('100.128.0.1'));
  await pipeline.close();
  assert.deepEqual(
    sink.attributions.slice(0, notPublic.length).map(({ ip }) => ip),
    notPublic,
  );
  assert.deepEqual(
    log.events('policy_fetch_ptr').map((line) => [line.ip, line.provider]),
    [
      ['172.32.0.1', 'proofpoint'],
      ['100.128.0.1', 'proofpoint'],
    ],
  );
  assert.deepEqual(
    dns.queries
      .slice(from)
      .filter((query) => query.type === DNS_TYPE.PTR)
      .map((query) => query.name)
      .sort(),
    [reverseLookupName('100.128.0.1'), reverseLookupName('172.32.0.1')],
  );
});

test('the log limit: past the budget, requests that are not policy fetches write no line and get no lookup; policy fetches always do', async () => {
  // A window of 2^30 ms (12 days; setTimeout takes no more than 2^31 - 1): the whole test is in one.
  const { log, sink, pipeline } = pipelineWith({
    reverseDns: lookups(),
    limit: (capture) => new LogLimit(createLogger('info', capture), { linesPerAddress: 1, windowMs: 2 ** 30 }),
  });
  const from = dns.queries.length;
  const scanner = '198.51.100.14';
  pipeline.record(fetchFrom(scanner, 'scan', { domain: null, status: 404, policyId: null }));
  pipeline.record(fetchFrom(scanner, 'scan', { domain: null, status: 404, policyId: null }));
  pipeline.record(fetchFrom(scanner, 'scan', { method: 'POST', status: 405, policyId: null }));
  pipeline.record(fetchFrom(scanner, 'scan', { status: 503, policyId: null }));
  pipeline.record(fetchFrom(scanner, 'scan', { method: 'HEAD' }));
  pipeline.record(fetchFrom(scanner, 'scan'));
  pipeline.record(fetchFrom(scanner, 'scan'));
  await pipeline.close();
  assert.deepEqual(
    log.lines.map((line) => [line.event, line.method, line.status, line.suppressed]),
    [
      ['policy_fetch', 'GET', 404, undefined],
      ['policy_fetch', 'HEAD', 200, undefined],
      ['policy_fetch', 'GET', 200, undefined],
      ['policy_fetch', 'GET', 200, undefined],
      ['policy_fetch_ptr', undefined, undefined, undefined],
      ['policy_fetch_ptr', undefined, undefined, undefined],
      ['policy_fetch_ptr', undefined, undefined, undefined],
      ['policy_fetch_ptr', undefined, undefined, undefined],
      // Written by the pipeline's close, after the pending lookups and before the sinks close.
      ['log_suppressed', undefined, undefined, 3],
    ],
  );
  // Every request reaches the metrics sink; only those with a line are attributed (and looked up, once: cached).
  assert.equal(sink.fetches.length, 7);
  assert.equal(sink.attributions.length, 4);
  assert.equal(dns.queries.slice(from).filter((query) => query.type === DNS_TYPE.PTR).length, 1);
  assert.equal(sink.closedAfterLines, log.lines.length);
});

test('sinks: each told only what it listens for, closed one after the other in their order', async () => {
  const log = new LogCapture();
  const events: string[] = [];
  const sinks: FetchSink[] = [
    {
      fetched: (fetch) => void events.push(`first fetched ${fetch.ip}`),
      close: async () => {
        events.push('first closing');
        await new Promise((resolve) => setTimeout(resolve, 20));
        events.push('first closed');
      },
    },
    { attributed: (fetch, { provider }) => void events.push(`second attributed ${fetch.ip} ${provider}`) },
    { close: () => void events.push('third closed') },
    {},
  ];
  const pipeline = createFetchPipeline({ log: createLogger('info', log), classifier: () => classifier, sinks });
  pipeline.record(fetchFrom('10.0.0.1'));
  pipeline.record(fetchFrom('209.85.128.5'));
  await pipeline.close();
  assert.deepEqual(events, [
    'first fetched 10.0.0.1',
    'second attributed 10.0.0.1 unknown',
    'first fetched 209.85.128.5',
    'second attributed 209.85.128.5 google',
    'first closing',
    'first closed',
    'third closed',
  ]);
  assert.equal(log.events('policy_fetch').length, 2);
});

test('batched (log.buffer_bytes): fetches are recorded after the turn of the event loop, in order, and before any write-out', async () => {
  const { path, fd } = await scratchFile();
  try {
    const writer = new LogWriter(fd, { bytes: 65_536, flushIntervalMs: 60_000 });
    const log = createLogger('info', writer);
    const attributed: string[] = [];
    const sink: FetchSink = { attributed: (fetch) => void attributed.push(fetch.ip) };
    const pipeline = createFetchPipeline({ log, classifier: () => classifier, sinks: [sink], batched: true });
    writer.gatherFrom(() => pipeline.drain());
    const linesOnDisk = () =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { ip: string });

    for (const ip of ['192.0.2.1', '192.0.2.2']) pipeline.record(fetchFrom(ip));
    assert.deepEqual(attributed, [], 'nothing is recorded while the request is being answered');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(attributed, ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(linesOnDisk(), [], 'the lines are gathered, as the log is buffered');

    // A flush (SIGUSR1, the interval, a full buffer, the exit) writes what the pipeline holds too.
    pipeline.record(fetchFrom('192.0.2.3'));
    writer.flushSync();
    assert.deepEqual(
      linesOnDisk().map((line) => line.ip),
      ['192.0.2.1', '192.0.2.2', '192.0.2.3'],
    );
    assert.deepEqual(attributed, ['192.0.2.1', '192.0.2.2', '192.0.2.3']);

    // A stop records what is held before the sinks close.
    pipeline.record(fetchFrom('192.0.2.4'));
    await pipeline.close();
    assert.deepEqual(attributed.at(-1), '192.0.2.4');
    writer.flushSync();
    assert.equal(linesOnDisk().length, 4);
  } finally {
    closeSync(fd);
  }
});
