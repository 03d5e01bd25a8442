import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfigText, type ConfigReuse } from '../src/config/load.js';
import { parseYaml } from '../src/config/yaml-document.js';
import { diffPolicySets } from '../src/policy/policy-diff.js';
import { POLICY_HOST_PREFIX, PolicySet } from '../src/policy/policy-set.js';
import { POLICY_PATH } from '../src/server/policy-responder.js';
import { Child } from './children.js';
import { scaleConfig, scaleDomain } from './fixtures.js';
import { median } from './report.js';
import type { LoadCommand, LoadReport, LoadResult, ServerCommand, ServerReport } from './protocol.js';

/** The comparison service for memory per domain: the same config shape with only a handful of domains. */
export const BASELINE_DOMAINS = 5;
/** A first stop waits for 100 000 new policy histories to be written: minutes on a slow disk. */
const STOP_DEADLINE_MS = 600_000;
/** Concurrent fetches while the config is reloaded; each opens a new connection, as real fetchers do. */
const RELOAD_CLIENT_CONNECTIONS = 4;
/** Load before the reload (so SNI contexts are built and the server is busy when the file changes) and after it. */
export const LOAD_AROUND_RELOAD_MS = 1_500;

export interface StartMeasurement {
  /** Service.start() until it resolved, measured inside the child. */
  serviceStartMs: number;
  /** Fork until the child reported ready: adds Node's own start and module loading. */
  processReadyMs: number;
  /** Resident set once started, before any request. */
  rssAfterStartMb: number;
  peakRssMb: number;
  /** Asked to stop until stopped: a first start writes every domain's new policy history, and a stop waits for them. */
  stopMs: number;
}

/** The synchronous steps of a reload, timed in the bench process after a warm-up pass (medians of a few). */
export interface ReloadSteps {
  /** The YAML parse alone, from the last load's parse, as a reload's loadConfigText calls it. */
  reloadYamlParseMs: number;
  /** The whole of a reload's loadConfigText, from the last load: parse, duplicate keys, schema, warnings. */
  reloadLoadMs: number;
  /** The served set built from the one served, as a reload builds it. */
  policySetMs: number;
  diffMs: number;
  /** The same text loaded from scratch, as at start: the YAML parse alone, and the whole of loadConfigText. */
  yamlParseMs: number;
  loadConfigTextMs: number;
}

export interface ReloadMeasurement {
  reloadMs: number;
  maxStallMs: number;
  newHostsReadyMs: number;
  client: LoadResult;
}

export interface ScaleResult {
  domains: number;
  configBytes: number;
  steps: ReloadSteps;
  cold: StartMeasurement;
  warm: StartMeasurement;
  reload: ReloadMeasurement;
  /** The same warm run with BASELINE_DOMAINS domains. */
  baseline: StartMeasurement;
  /** (N domains − baseline) / (N − BASELINE_DOMAINS), in KiB: after start, and peak over the warm run. */
  perDomainKb: { afterStart: number; peak: number };
}

type ServiceChild = Child<ServerCommand, ServerReport>;

/**
 * A hosting provider's case: starts from a config of `domains` domains twice (cold: the state
 * dir is empty and certificates are issued; warm: they are reused), then changes the file under
 * load. The same warm run with a handful of domains gives the memory each domain costs.
 */
export async function runScale(work: string, domains: number, progress: (line: string) => void): Promise<ScaleResult> {
  const text = scaleConfig(domains);
  const full = await scaleDir(join(work, 'scale'), text);
  const nextText = scaleConfig(domains + 1, 1);
  const steps = timeReloadSteps(text, nextText, full.configPath);
  progress(
    `reload steps timed in-process: loadConfigText ${steps.reloadLoadMs.toFixed(0)} ms (${steps.loadConfigTextMs.toFixed(0)} ms from scratch)`,
  );

  const cold = await stop(await start(full, 'cold'));
  progress(`cold start ${cold.serviceStartMs.toFixed(0)} ms`);
  const { warm, reload } = await warmRunUnderLoad(full, domains, nextText);
  progress(`warm start ${warm.serviceStartMs.toFixed(0)} ms, reload ${reload.reloadMs.toFixed(0)} ms`);

  const small = await scaleDir(join(work, 'scale-baseline'), scaleConfig(BASELINE_DOMAINS));
  await stop(await start(small, 'baseline-cold'));
  const { warm: baseline } = await warmRunUnderLoad(small, BASELINE_DOMAINS, scaleConfig(BASELINE_DOMAINS + 1, 1));
  const perDomainKb = (key: 'rssAfterStartMb' | 'peakRssMb') =>
    ((warm[key] - baseline[key]) * 1024) / (domains - BASELINE_DOMAINS);
  return {
    domains,
    configBytes: Buffer.byteLength(text),
    steps,
    cold,
    warm,
    reload,
    baseline,
    perDomainKb: { afterStart: perDomainKb('rssAfterStartMb'), peak: perDomainKb('peakRssMb') },
  };
}

interface ScaleDir {
  dir: string;
  configPath: string;
}

async function scaleDir(dir: string, text: string): Promise<ScaleDir> {
  // The config folder holds only the config: the service watches the whole folder.
  const configDir = join(dir, 'config');
  await mkdir(configDir, { recursive: true });
  await mkdir(join(dir, 'logs'));
  const configPath = join(configDir, 'mta-sts.yaml');
  await writeFile(configPath, text);
  return { dir, configPath };
}

interface Started {
  child: ServiceChild;
  ready: Extract<ServerReport, { type: 'ready' }>;
  processReadyMs: number;
}

async function start({ dir, configPath }: ScaleDir, name: string): Promise<Started> {
  const forked = performance.now();
  const child: ServiceChild = new Child(`service (${name})`, 'service-host', [
    JSON.stringify({ configPath, tapLog: join(dir, 'logs', `${name}.log`) }),
  ]);
  const ready = await child.next('ready', 600_000);
  return { child, ready, processReadyMs: performance.now() - forked };
}

async function stop({ child, ready, processReadyMs }: Started): Promise<StartMeasurement> {
  const asked = performance.now();
  const stopped = await child.ask({ type: 'stop' }, 'stopped', STOP_DEADLINE_MS);
  const stopMs = performance.now() - asked;
  await child.exit(10_000);
  return {
    serviceStartMs: ready.startMs,
    processReadyMs,
    rssAfterStartMb: ready.rssKb / 1024,
    peakRssMb: stopped.maxRssKb / 1024,
    stopMs,
  };
}

/** Starts from the state dir a cold run filled, then writes `nextText` while clients fetch over new connections. */
async function warmRunUnderLoad(
  scale: ScaleDir,
  domains: number,
  nextText: string,
): Promise<{ warm: StartMeasurement; reload: ReloadMeasurement }> {
  const warm = await start(scale, `warm-${domains}`);
  const ca = await readFile(join(scale.dir, 'state', 'self-signed', 'ca.pem'), 'utf8');
  const hosts = Array.from({ length: domains }, (_, index) => POLICY_HOST_PREFIX + scaleDomain(index + 1));
  const load = new Child<LoadCommand, LoadReport>('load (reload)', 'load', []);
  load.send({
    type: 'start',
    plan: {
      port: warm.ready.port,
      mode: 'new-connection',
      connections: RELOAD_CLIENT_CONNECTIONS,
      warmupMs: 0,
      durationMs: null,
      ca,
      hosts,
      path: POLICY_PATH,
      userAgent: 'Google-SMTP-STS',
    },
  });
  await load.next('window-start', 15_000);
  await new Promise((resolve) => setTimeout(resolve, LOAD_AROUND_RELOAD_MS));
  // One domain changed (a new mx pattern) and one added.
  const reloaded = await warm.child.ask({ type: 'reload', text: nextText }, 'reloaded', 60_000);
  await new Promise((resolve) => setTimeout(resolve, LOAD_AROUND_RELOAD_MS));
  load.send({ type: 'stop' });
  const { type: _type, ...client } = await load.next('result', 30_000);
  await load.exit(5_000);
  const { reloadMs, maxStallMs, newHostsReadyMs } = reloaded;
  return { warm: await stop(warm), reload: { reloadMs, maxStallMs, newHostsReadyMs, client } };
}

/** Which synchronous step of a reload costs what: the service runs them back to back on its event loop. */
function timeReloadSteps(text: string, nextText: string, configPath: string): ReloadSteps {
  const timed = <T>(step: () => T): [T, number] => {
    const started = performance.now();
    const result = step();
    return [result, performance.now() - started];
  };
  const load = (source: string, reuse?: ConfigReuse) => {
    const loaded = loadConfigText(source, configPath, {}, reuse);
    if (!loaded.ok) throw new Error(`scale config rejected:\n${loaded.errors.slice(0, 5).join('\n')}`);
    return loaded;
  };
  const started = load(text);
  const current = new PolicySet(started.config.domains);
  const samples: ReloadSteps[] = [];
  // The first pass only warms the JIT up, as the running service's first load did.
  for (let pass = 0; pass < 4; pass++) {
    const [, reloadYamlParseMs] = timed(() => parseYaml(nextText, configPath, started.reuse.parse));
    const [reloaded, reloadLoadMs] = timed(() => load(nextText, started.reuse));
    const [next, policySetMs] = timed(() => new PolicySet(reloaded.config.domains, current));
    const [, diffMs] = timed(() => diffPolicySets(current, next));
    const [, yamlParseMs] = timed(() => parseYaml(nextText, configPath));
    const [, loadConfigTextMs] = timed(() => load(nextText));
    if (pass > 0) samples.push({ reloadYamlParseMs, reloadLoadMs, policySetMs, diffMs, yamlParseMs, loadConfigTextMs });
  }
  const of = (key: keyof ReloadSteps) => median(samples.map((sample) => sample[key]));
  return {
    reloadYamlParseMs: of('reloadYamlParseMs'),
    reloadLoadMs: of('reloadLoadMs'),
    policySetMs: of('policySetMs'),
    diffMs: of('diffMs'),
    yamlParseMs: of('yamlParseMs'),
    loadConfigTextMs: of('loadConfigTextMs'),
  };
}
