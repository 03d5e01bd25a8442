import { closeSync, createReadStream, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from '../src/config/load.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { POLICY_PATH } from '../src/server/policy-responder.js';
import { Child } from './children.js';
import { benchConfig, writeCertificate } from './fixtures.js';
import type { LoadCommand, LoadPlan, LoadReport, LoadResult, ServerCommand, ServerReport } from './protocol.js';

export const POLICY_HOST = 'mta-sts.example.com';
/** A user agent no provider pattern matches: the classifier tries every pattern, its most expensive path. */
export const USER_AGENT = 'mta-sts-bench/1.0';

export type Mode = LoadPlan['mode'];
export type ServerKind = 'minimal' | 'service';
export type ServerChild = Child<ServerCommand, ServerReport>;

export interface Timing {
  rounds: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
}

/** The certificate, config and expected body shared by both servers. */
export interface HttpsFixture {
  dir: string;
  configPath: string;
  certPath: string;
  keyPath: string;
  caPem: string;
  body: string;
}

export async function prepareFixture(work: string): Promise<HttpsFixture> {
  const dir = join(work, 'https');
  const tls = join(dir, 'tls');
  await mkdir(tls, { recursive: true });
  const { certPath, keyPath, pem } = await writeCertificate(tls, POLICY_HOST);
  const { configPath, text } = await writeConfig(dir, certPath, keyPath);
  // The minimal server answers what the service's own code renders, so both send identical bodies.
  const loaded = loadConfigText(text, configPath);
  if (!loaded.ok) throw new Error(`bench config rejected:\n${loaded.errors.join('\n')}`);
  const body = new PolicySet(loaded.config.domains).forHost(POLICY_HOST)!.body;
  return { dir, configPath, certPath, keyPath, caPem: pem, body };
}

/**
 * The fixture's certificate and policy with more top-level settings (`extra` config lines), in a
 * folder of its own: config/, logs/, and the state_dir (../state from the config) beside them.
 */
export async function fixtureVariant(fixture: HttpsFixture, dir: string, extra: readonly string[]): Promise<HttpsFixture> {
  const { configPath } = await writeConfig(dir, fixture.certPath, fixture.keyPath, extra);
  return { ...fixture, dir, configPath };
}

/** The config folder holds only the config: the service watches the whole folder. */
async function writeConfig(dir: string, certPath: string, keyPath: string, extra: readonly string[] = []) {
  const configDir = join(dir, 'config');
  await mkdir(configDir, { recursive: true });
  await mkdir(join(dir, 'logs'), { recursive: true });
  const configPath = join(configDir, 'mta-sts.yaml');
  const text = benchConfig(certPath, keyPath, extra);
  await writeFile(configPath, text);
  return { configPath, text };
}

/**
 * The real service, logging to a file through its production destination (stdout). `logName`
 * names the file under the fixture's logs/; `providersFile` replaces the shipped provider list.
 */
export async function startService(fixture: HttpsFixture, logName: string, providersFile?: string) {
  const logPath = join(fixture.dir, 'logs', logName);
  const logFd = openSync(logPath, 'w');
  const options = { configPath: fixture.configPath, ...(providersFile !== undefined && { providersFile }) };
  const child: ServerChild = new Child('service', 'service-host', [JSON.stringify(options)], {
    stdout: logFd,
  });
  // The child has its own copy of the descriptor.
  closeSync(logFd);
  const ready = await child.next('ready', 30_000);
  return { child, port: ready.port, logPath };
}

export async function startMinimal(fixture: HttpsFixture) {
  const options = { certPath: fixture.certPath, keyPath: fixture.keyPath, path: POLICY_PATH, body: fixture.body };
  const child: ServerChild = new Child('minimal', 'minimal-host', [JSON.stringify(options)]);
  const ready = await child.next('ready', 30_000);
  return { child, port: ready.port };
}

export interface Measurement extends LoadResult {
  rps: number;
  serverCpuPct: number;
  /** Server CPU time per request: what its throughput would follow if it had a core to itself and the client cost nothing. */
  serverCpuUsPerRequest: number;
  /**
   * CPU (in % of one core) used during the window by everything but this server and its client:
   * other programs on a shared machine make a run slower for reasons the bench does not control.
   */
  otherCpuPct: number;
  /** How long the run waited for other programs to quieten down before it started. */
  quietWaitMs: number;
  /** The server's peak RSS so far (it serves every round, so this is a running maximum). */
  serverPeakRssMb: number;
}

/** Other programs may use this much of a core before a run starts; more would slow it for reasons not its own. */
const QUIET_OTHER_PCT = 20;
const QUIET_WAIT_LIMIT_MS = 15_000;
const QUIET_PROBE_MS = 500;

/**
 * Waits, at most QUIET_WAIT_LIMIT_MS, until the machine is nearly idle (the servers under test
 * are idle between runs, so what it sees is other programs). Returns how long it waited.
 */
async function waitForQuiet(): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < QUIET_WAIT_LIMIT_MS) {
    const before = machineBusyMs();
    await new Promise((resolve) => setTimeout(resolve, QUIET_PROBE_MS));
    if (((machineBusyMs() - before) / QUIET_PROBE_MS) * 100 < QUIET_OTHER_PCT) break;
  }
  return performance.now() - started;
}

/** One load run against one server, with the server's CPU use over the same window. */
export async function measure(
  server: ServerChild,
  port: number,
  fixture: HttpsFixture,
  mode: Mode,
  timing: Timing,
  profilePath?: string,
): Promise<Measurement> {
  const quietWaitMs = await waitForQuiet();
  const load = new Child<LoadCommand, LoadReport>(`load (${mode})`, 'load', []);
  load.send({
    type: 'start',
    plan: {
      port,
      mode,
      connections: timing.connections,
      warmupMs: timing.warmupMs,
      durationMs: timing.durationMs,
      ca: fixture.caPem,
      hosts: [POLICY_HOST],
      path: POLICY_PATH,
      userAgent: USER_AGENT,
      expectBody: fixture.body,
    },
  });
  await load.next('window-start', timing.warmupMs + 15_000);
  const machineBefore = machineBusyMs();
  if (profilePath !== undefined) await server.ask({ type: 'profile-start' }, 'profiling', 5_000);
  const before = await server.ask({ type: 'sample' }, 'sample', 5_000);
  await load.next('window-end', timing.durationMs + 15_000);
  const after = await server.ask({ type: 'sample' }, 'sample', 5_000);
  if (profilePath !== undefined) await server.ask({ type: 'profile-stop', path: profilePath }, 'profiled', 30_000);
  const machineMs = machineBusyMs() - machineBefore;
  const { type: _type, ...result } = await load.next('result', 30_000);
  await load.exit(5_000);
  const serverCpuPct = ((after.cpuUs - before.cpuUs) / 1000 / (after.atMs - before.atMs)) * 100;
  const rps = result.requests / (result.windowMs / 1000);
  return {
    ...result,
    rps,
    serverCpuPct,
    serverCpuUsPerRequest: (serverCpuPct / 100) * (1e6 / rps),
    quietWaitMs,
    otherCpuPct: Math.max(0, (machineMs / result.windowMs) * 100 - serverCpuPct - result.clientCpuPct),
    serverPeakRssMb: after.maxRssKb / 1024,
  };
}

/** CPU time all processes on the machine have used, summed over its CPUs. */
function machineBusyMs(): number {
  return cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0);
}

export interface Run<Kind extends string = ServerKind> extends Measurement {
  mode: Mode;
  server: Kind;
  round: number;
}

export interface RunningServer {
  child: ServerChild;
  port: number;
}

/**
 * Both servers stay up for the whole comparison and take turns, the order flipping every round
 * (A B, B A, A B, ...), so that drift in machine speed weighs on both alike.
 */
export async function alternateRuns<Kind extends string>(
  servers: Record<Kind, RunningServer>,
  order: readonly [Kind, Kind],
  modes: readonly Mode[],
  fixture: HttpsFixture,
  timing: Timing,
  progress: (run: Run<Kind>) => void,
): Promise<Run<Kind>[]> {
  const runs: Run<Kind>[] = [];
  for (const mode of modes) {
    for (let round = 1; round <= timing.rounds; round++) {
      for (const kind of round % 2 === 1 ? order : [order[1], order[0]]) {
        const { child, port } = servers[kind];
        const run = { mode, server: kind, round, ...(await measure(child, port, fixture, mode, timing)) };
        runs.push(run);
        progress(run);
      }
    }
  }
  return runs;
}

/** Stops a server child and waits for it to exit; returns its peak RSS in MB. */
export async function stopServer({ child }: RunningServer): Promise<number> {
  const stopped = await child.ask({ type: 'stop' }, 'stopped', 15_000);
  await child.exit(10_000);
  return stopped.maxRssKb / 1024;
}

export interface HttpsComparison {
  runs: Run[];
  peakRssMb: Record<ServerKind, number>;
  fetchLogLines: number;
  fetchLogBytes: number;
}

/** The service against the minimal server, both modes, alternating (see alternateRuns). */
export async function runHttpsComparison(
  fixture: HttpsFixture,
  timing: Timing,
  progress: (run: Run) => void,
): Promise<HttpsComparison> {
  const [service, minimal] = await Promise.all([startService(fixture, 'service.log'), startMinimal(fixture)]);
  const runs = await alternateRuns(
    { service, minimal },
    ['minimal', 'service'],
    ['keep-alive', 'new-connection'],
    fixture,
    timing,
    progress,
  );
  const peakRssMb = await Promise.all([stopServer(service), stopServer(minimal)]);
  const log = await countLines(service.logPath, [FETCH_LINE]);
  return {
    runs,
    peakRssMb: { service: peakRssMb[0], minimal: peakRssMb[1] },
    fetchLogLines: log.matching[0]!,
    fetchLogBytes: log.bytes,
  };
}

/** Marks the service's fetch log line, one per policy request (not its reverse-DNS follow-up, policy_fetch_ptr). */
export const FETCH_LINE = '"event":"policy_fetch"';

/**
 * Lines of a file that contain each marker, in the order given: proves the fetch log really was
 * written, one line per request.
 */
export async function countLines(path: string, markers: readonly string[]): Promise<{ matching: number[]; bytes: number }> {
  const matching = markers.map(() => 0);
  let bytes = 0;
  let carry = '';
  const count = (line: string) => {
    for (const [index, marker] of markers.entries()) if (line.includes(marker)) matching[index]++;
  };
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
    bytes += Buffer.byteLength(chunk as string);
    const lines = (carry + (chunk as string)).split('\n');
    carry = lines.pop()!;
    for (const line of lines) count(line);
  }
  count(carry);
  return { matching, bytes };
}
