/** The bench's sections over HTTPS: the service against a minimal server, attribution on against off, CPU profiles. */
import { join } from 'node:path';
import {
  FLUSH_INTERVAL_S,
  measureAddedWork,
  runAttributionComparison,
  type AddedWork,
  type AttributionComparison,
} from './attribution.js';
import { readShippedProviders } from './classifier.js';
import {
  alternateRuns,
  fixtureVariant,
  measure,
  runHttpsComparison,
  startMinimal,
  startService,
  stopServer,
  USER_AGENT,
  type HttpsComparison,
  type HttpsFixture,
  type Mode,
  type Run,
  type ServerKind,
} from './https.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { heading, median, table, verdict } from './report.js';
import { attributionTiming, print, TARGETS, timing } from './options.js';

export interface ScenarioSummary {
  mode: Mode;
  minimal: ServerSummary;
  service: ServerSummary;
  /** service / minimal requests per second (median of the per-round ratios): the issue's measure. */
  ratio: number;
  /** minimal / service server CPU per request (median of the per-round ratios): the same with the client's share of the machine taken out. */
  cpuRatio: number;
  target: number;
  pass: boolean;
  cpuPass: boolean;
}

interface ServerSummary {
  rps: number;
  p99Ms: number;
  cpuUsPerRequest: number;
}

/** A service with a feature on against the same service with it off, side by side. */
export interface OnOffSummary {
  mode: Mode;
  on: ServerSummary;
  off: ServerSummary;
  /** on / off requests per second (median of the per-round ratios): the issue's measure. */
  ratio: number;
  /** off / on server CPU per request (median of the per-round ratios). */
  cpuRatio: number;
  target: number;
  pass: boolean;
  cpuPass: boolean;
}

export interface AttributionSummary extends OnOffSummary {
  /** What the ON service classifies against: the shipped config/providers.yaml. */
  shippedProviders: { providers: number; ranges: number; userAgentPatterns: number };
  comparison: AttributionComparison;
  /** The same difference timed in this process, where the machine's drift between runs does not blur it. */
  addedWork: AddedWork & { addedUs: number; shareOfOnCpu: number };
}

export async function httpsSection(
  fixture: HttpsFixture,
): Promise<{ scenarios: ScenarioSummary[]; comparison: HttpsComparison }> {
  print(heading('Policy over HTTPS: service vs minimal node:https server'));
  print(
    `ECDSA P-256 certificate, ${timing.connections} concurrent connections, ${timing.warmupMs / 1000} s warm-up + ` +
      `${timing.durationMs / 1000} s measured per run, ${timing.rounds} round(s) per server and scenario, order alternating.`,
  );
  print('Service: Service.start with log.level info; the fetch log goes through its own pino destination to a file.');
  const comparison = await runHttpsComparison(fixture, timing, (run) =>
    print(`  ${run.mode} ${run.server} round ${run.round}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99Ms.toFixed(2)} ms`),
  );
  const { runs } = comparison;
  printRuns(runs);

  const scenarios = (['keep-alive', 'new-connection'] as const).map((mode): ScenarioSummary => {
    const { baseline: minimal, candidate: service, ratio, cpuRatio } = compareRuns(runs, mode, 'minimal', 'service');
    const target = mode === 'keep-alive' ? TARGETS.keepAliveRatio : TARGETS.newConnectionRatio;
    return { mode, minimal, service, ratio, cpuRatio, target, pass: ratio >= target, cpuPass: cpuRatio >= target };
  });
  print('');
  print(
    table(
      [
        'scenario',
        'minimal req/s',
        'service req/s',
        'minimal p99 ms',
        'service p99 ms',
        'req/s ratio',
        'CPU/req ratio',
        'target',
        'verdict',
      ],
      scenarios.map((s) => [
        s.mode,
        s.minimal.rps,
        s.service.rps,
        s.minimal.p99Ms,
        s.service.p99Ms,
        s.ratio,
        s.cpuRatio,
        s.target,
        `${verdict(s.pass)} (req/s), ${verdict(s.cpuPass)} (CPU/req)`,
      ]),
    ),
  );
  print('Medians over rounds; each ratio is the median of the per-round ratios. req/s ratio = service / minimal throughput, as');
  print('the issue asks; CPU/req ratio = minimal / service server CPU time per request: the throughput ratio the two would');
  print('show if each had a core to itself and the client cost nothing.');
  print(`peak RSS: service ${comparison.peakRssMb.service.toFixed(1)} MB, minimal ${comparison.peakRssMb.minimal.toFixed(1)} MB`);
  print(
    `fetch log: ${comparison.fetchLogLines} policy_fetch lines, ${(comparison.fetchLogBytes / 2 ** 20).toFixed(1)} MB written ` +
      `(one per service request, warm-up included)`,
  );
  const clientBound = runs
    .filter((run) => run.server === 'minimal' && run.serverCpuPct < 85)
    .map((run) => `${run.mode} round ${run.round}`);
  if (clientBound.length > 0) {
    print(
      `note: the minimal server used under 85 % of a core in ${clientBound.join(', ')}: there the client (or other programs), ` +
        'not the server, set the pace and the req/s ratio flatters the service; the CPU/req ratio does not depend on it.',
    );
  }
  noteDisturbance(runs);
  return { scenarios, comparison };
}

export async function attributionSection(fixture: HttpsFixture, work: string): Promise<AttributionSummary> {
  print(heading('Policy throughput: provider attribution and fetch statistics on vs off'));
  const shipped = await readShippedProviders();
  const shippedProviders = {
    providers: Object.keys(shipped.data.providers).length,
    ranges: shipped.ranges.length,
    userAgentPatterns: shipped.userAgents.length,
  };
  print(
    `on: as deployed: the shipped provider list (${shippedProviders.providers} providers, ${shippedProviders.ranges} ranges, ` +
      `${shippedProviders.userAgentPatterns} user-agent patterns) checked on every request by ProviderClassifier.classify; ` +
      `statistics enabled (every fetch summed in memory, written to SQLite in the state dir every ${FLUSH_INTERVAL_S} s); ` +
      'reverse DNS enabled.',
  );
  print(
    'off: the same config with statistics disabled and an empty provider list (providers: {}), so every fetch is ' +
      '"unknown" with no range or user-agent work. Both log every fetch (info level, to a file) as above.',
  );
  print(
    'The load comes from 127.0.0.1, a loopback address, for which reverse DNS is skipped by design (isPublicAddress ' +
      'in src/fetches/fetch-log.ts): no DNS query leaves the machine. Its user agent matches no provider, so the ' +
      'classifier walks the range table and tries every pattern.',
  );
  print(
    `Keep-alive only (per-request cost; with a new connection per request the TLS handshake dominates), ` +
      `${attributionTiming.connections} connections, ${attributionTiming.rounds} round(s), order alternating (on off, off on, ...).`,
  );
  const comparison = await runAttributionComparison(fixture, work, attributionTiming, (run) =>
    print(`  ${run.mode} ${run.server} round ${run.round}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99Ms.toFixed(2)} ms`),
  );
  const { runs, statistics } = comparison;
  printRuns(runs);
  const mode = 'keep-alive';
  const onOff = onOffSummary(runs, mode, TARGETS.attributionRatio);
  const { on } = onOff;
  const measured = await measureAddedWork(work, USER_AGENT);
  const addedUs = measured.classifyShippedUs - measured.classifyEmptyUs + measured.recordUs;
  const addedWork = { ...measured, addedUs, shareOfOnCpu: addedUs / on.cpuUsPerRequest };
  const summary: AttributionSummary = { ...onOff, shippedProviders, comparison, addedWork };
  printOnOffTable(summary);
  print('req/s ratio = on / off throughput, as the issue asks; CPU/req ratio = off / on server CPU time per request.');
  print(
    `in process: provider lookup ${measured.classifyShippedUs.toFixed(3)} µs with the shipped list, ` +
      `${measured.classifyEmptyUs.toFixed(3)} µs with none; statistics record ${measured.recordUs.toFixed(3)} µs. ` +
      `Added per request: ${addedUs.toFixed(3)} µs, ${(addedWork.shareOfOnCpu * 100).toFixed(2)} % of the on service's ` +
      `${on.cpuUsPerRequest.toFixed(1)} µs CPU per request (equivalent ratio ${(1 - addedWork.shareOfOnCpu).toFixed(3)}).`,
  );
  print(`peak RSS: on ${comparison.peakRssMb.on.toFixed(1)} MB, off ${comparison.peakRssMb.off.toFixed(1)} MB`);
  const stored = (fetches: number | null) => (fetches === null ? 'unreadable' : String(fetches));
  print(
    `statistics (on): ${statistics.loggedFetches} policy_fetch log lines, ${stored(statistics.storedFetches)} fetches ` +
      `stored in the database after stop (${stored(statistics.storedWhileRunning)} already written by the ` +
      `${FLUSH_INTERVAL_S} s flushes before the stop): ${statistics.match ? 'match' : 'MISMATCH'}`,
  );
  if (!statistics.match) {
    print(
      `!!! MISMATCH: the statistics database holds ${stored(statistics.storedFetches)} fetches but the log has ` +
        `${statistics.loggedFetches} policy_fetch lines${statistics.error ? ` (${statistics.error})` : ''}`,
    );
  }
  print(
    `off: ${statistics.offLoggedFetches} policy_fetch log lines, ` +
      `${statistics.offDatabase ? 'A STATISTICS DATABASE WAS CREATED (it should not be)' : 'no statistics database'}; ` +
      `reverse DNS lines in both logs: ${statistics.reverseDnsLines}${statistics.reverseDnsLines === 0 ? '' : ' (EXPECTED 0)'}`,
  );
  noteDisturbance(runs);
  return summary;
}

/** The policy path with reports.https on (POST /tlsrpt registered, the report store open) against off, side by side. */
export async function tlsRptSection(fixture: HttpsFixture, work: string): Promise<OnOffSummary> {
  print(heading('Policy throughput: TLS report intake (reports.https) on vs off'));
  print(
    'on: reports: { https: { enabled: true } } (POST /tlsrpt on the policy listener, the report store open in the state dir); ' +
      'off: no reports block. Otherwise the same config. Keep-alive GETs of the policy only (the path senders use), ' +
      `${attributionTiming.connections} connections, ${attributionTiming.rounds} round(s), order alternating.`,
  );
  const dir = join(work, 'tlsrpt');
  const on = await fixtureVariant(fixture, join(dir, 'on'), ['reports: { https: { enabled: true } }']);
  const off = await fixtureVariant(fixture, join(dir, 'off'), []);
  const servers = { on: await startService(on, 'service.log'), off: await startService(off, 'service.log') };
  let runs: Run<'on' | 'off'>[];
  try {
    runs = await alternateRuns(servers, ['on', 'off'], ['keep-alive'], fixture, attributionTiming, (run) =>
      print(`  ${run.mode} ${run.server} round ${run.round}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99Ms.toFixed(2)} ms`),
    );
  } finally {
    await Promise.all([stopServer(servers.on), stopServer(servers.off)]);
  }
  printRuns(runs);
  const summary = onOffSummary(runs, 'keep-alive', TARGETS.tlsRptRatio);
  printOnOffTable(summary);
  noteDisturbance(runs);
  return summary;
}

function onOffSummary(runs: readonly Run<'on' | 'off'>[], mode: Mode, target: number): OnOffSummary {
  const { baseline: off, candidate: on, ratio, cpuRatio } = compareRuns(runs, mode, 'off', 'on');
  return { mode, on, off, ratio, cpuRatio, target, pass: ratio >= target, cpuPass: cpuRatio >= target };
}

function printOnOffTable(summary: OnOffSummary): void {
  const { mode, on, off } = summary;
  print('');
  print(
    table(
      [
        'scenario',
        'off req/s',
        'on req/s',
        'off CPU µs/req',
        'on CPU µs/req',
        'req/s ratio',
        'CPU/req ratio',
        'target',
        'verdict',
      ],
      [
        [
          mode,
          off.rps,
          on.rps,
          off.cpuUsPerRequest,
          on.cpuUsPerRequest,
          summary.ratio,
          summary.cpuRatio,
          summary.target,
          `${verdict(summary.pass)} (req/s), ${verdict(summary.cpuPass)} (CPU/req)`,
        ],
      ],
    ),
  );
}

/** Every run, one row each, then a few failures of each. */
function printRuns<Kind extends string>(runs: readonly Run<Kind>[]): void {
  print('');
  print(
    table(
      [
        'scenario',
        'server',
        'round',
        'req/s',
        'p50 ms',
        'p99 ms',
        'server CPU %',
        'CPU µs/req',
        'client CPU %',
        'other CPU %',
        'peak RSS MB',
        'failed',
        'body',
      ],
      runs.map((run) => [
        run.mode,
        run.server,
        String(run.round),
        run.rps,
        run.p50Ms,
        run.p99Ms,
        run.serverCpuPct,
        run.serverCpuUsPerRequest,
        run.clientCpuPct,
        run.otherCpuPct,
        run.serverPeakRssMb,
        run.failures,
        run.bodyVerified === null ? 'no response' : run.bodyVerified ? 'same' : 'DIFFERENT',
      ]),
    ),
  );
  for (const run of runs) for (const sample of run.failureSamples) print(`  failure (${run.mode}, ${run.server}): ${sample}`);
}

/**
 * `candidate` against `baseline` in one mode: the medians of each over the rounds, and the median
 * of the per-round ratios (candidate / baseline req/s; baseline / candidate CPU per request). Each
 * ratio comes from the two runs made one after the other: the machine's speed drifts between
 * rounds more than between neighbouring runs.
 */
function compareRuns<Kind extends string>(
  runs: readonly Run<Kind>[],
  mode: Mode,
  baseline: Kind,
  candidate: Kind,
): { baseline: ServerSummary; candidate: ServerSummary; ratio: number; cpuRatio: number } {
  const of = (server: Kind): ServerSummary => {
    const mine = runs.filter((run) => run.mode === mode && run.server === server);
    return {
      rps: median(mine.map((run) => run.rps)),
      p99Ms: median(mine.map((run) => run.p99Ms)),
      cpuUsPerRequest: median(mine.map((run) => run.serverCpuUsPerRequest)),
    };
  };
  // Sections may run more rounds than the global timing (the attribution comparison does).
  const roundCount = Math.max(...runs.map((run) => run.round));
  const rounds = Array.from({ length: roundCount }, (_, index) => {
    const pair = (server: Kind) => runs.find((run) => run.mode === mode && run.server === server && run.round === index + 1)!;
    return { baseline: pair(baseline), candidate: pair(candidate) };
  });
  return {
    baseline: of(baseline),
    candidate: of(candidate),
    ratio: median(rounds.map((round) => round.candidate.rps / round.baseline.rps)),
    cpuRatio: median(rounds.map((round) => round.baseline.serverCpuUsPerRequest / round.candidate.serverCpuUsPerRequest)),
  };
}

function noteDisturbance(runs: readonly Run<string>[]): void {
  const disturbed = runs.filter((run) => run.otherCpuPct > 20).length;
  if (disturbed > 0)
    print(`note: other programs used over 20 % of a core during ${disturbed} of ${runs.length} runs (other CPU %).`);
}

interface ProfileComparison {
  mode: Mode;
  rps: Record<ServerKind, number>;
  /** Self time per request by area, in µs, for both servers. */
  areas: { name: string; serviceUs: number; minimalUs: number }[];
  serviceFunctions: { name: string; us: number }[];
}

/**
 * Both servers CPU-profiled over one measuring window each, in fresh processes so the comparison
 * above is undisturbed. Per-request self time by area shows what the service adds to the minimal server.
 */
export async function profileSection(fixture: HttpsFixture): Promise<ProfileComparison[]> {
  print(heading('CPU profiles over one measuring window (node:inspector), self time per request'));
  print('The profiler slows both servers; compare the two columns rather than the absolute numbers.');
  const [service, minimal] = await Promise.all([startService(fixture, 'profile.log'), startMinimal(fixture)]);
  const servers = { service, minimal };
  const comparisons: ProfileComparison[] = [];
  for (const mode of ['keep-alive', 'new-connection'] as const) {
    const perRequest = {} as Record<ServerKind, { rps: number; summary: ProfileSummary; requests: number }>;
    for (const kind of ['minimal', 'service'] as const) {
      const path = join(fixture.dir, `${kind}-${mode}.cpuprofile`);
      const run = await measure(servers[kind].child, servers[kind].port, fixture, mode, timing, path);
      perRequest[kind] = { rps: run.rps, summary: await summariseProfile(path, 25), requests: run.requests };
    }
    const usPerRequest = (kind: ServerKind, ms: number) => (ms * 1000) / perRequest[kind].requests;
    const minimalAreas = new Map(perRequest.minimal.summary.areas.map((area) => [area.name, area.selfMs]));
    const areas = perRequest.service.summary.areas.map((area) => ({
      name: area.name,
      serviceUs: usPerRequest('service', area.selfMs),
      minimalUs: usPerRequest('minimal', minimalAreas.get(area.name) ?? 0),
    }));
    const serviceFunctions = perRequest.service.summary.functions.map((entry) => ({
      name: entry.name,
      us: usPerRequest('service', entry.selfMs),
    }));
    comparisons.push({
      mode,
      rps: { service: perRequest.service.rps, minimal: perRequest.minimal.rps },
      areas,
      serviceFunctions,
    });

    print(
      `\n${mode}: profiled at ${perRequest.service.rps.toFixed(0)} req/s (service), ${perRequest.minimal.rps.toFixed(0)} req/s (minimal)`,
    );
    const busy = (kind: ServerKind) => usPerRequest(kind, perRequest[kind].summary.busyMs);
    print(
      table(
        ['area (self time)', 'service µs/req', 'minimal µs/req', 'difference'],
        [
          ...areas.map((area) => [area.name, area.serviceUs, area.minimalUs, area.serviceUs - area.minimalUs]),
          ['total busy', busy('service'), busy('minimal'), busy('service') - busy('minimal')],
        ],
      ),
    );
    print('');
    print(
      table(
        ['service function (self time)', 'µs/req'],
        serviceFunctions.map((entry) => [entry.name, entry.us]),
      ),
    );
  }
  await Promise.all(Object.values(servers).map((server) => stopServer(server)));
  return comparisons;
}
