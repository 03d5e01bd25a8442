import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfigText } from '../src/config/load.js';
import { parseYaml } from '../src/config/yaml-document.js';
import { diffPolicySets } from '../src/policy/policy-diff.js';
import { POLICY_HOST_PREFIX, PolicySet } from '../src/policy/policy-set.js';
import { POLICY_PATH } from '../src/server/policy-responder.js';
import { Child } from './children.js';
import { scaleConfig, scaleDomain } from './fixtures.js';
import { median } from './report.js';
import type { LoadCommand, LoadReport, LoadResult, ServerCommand, ServerReport } from './protocol.js';

export const SCALE_DOMAINS = 10_000;
/** Concurrent fetches while the config is reloaded; each opens a new connection, as real fetchers do. */
const RELOAD_CLIENT_CONNECTIONS = 4;
/** Load before the reload (so SNI contexts are built and the server is busy when the file changes) and after it. */
export const LOAD_AROUND_RELOAD_MS = 1_500;

export interface StartMeasurement {
  /** Service.start() until it resolved, measured inside the child. */
  serviceStartMs: number;
  /** Fork until the child reported ready: adds Node's own start and module loading. */
  processReadyMs: number;
  peakRssMb: number;
}

/** The synchronous steps of a reload, timed in the bench process after a warm-up pass (medians of a few). */
export interface ReloadSteps {
  /** The YAML parse alone (js-yaml with the positions of every node), as loadConfigText calls it. */
  yamlParseMs: number;
  /** The whole of loadConfigText: parse, duplicate keys, schema, warnings. */
  loadConfigTextMs: number;
  policySetMs: number;
  diffMs: number;
}

export interface ScaleResult {
  domains: number;
  configBytes: number;
  steps: ReloadSteps;
  cold: StartMeasurement;
  warm: StartMeasurement;
  reload: {
    reloadMs: number;
    maxStallMs: number;
    newHostsReadyMs: number;
    client: LoadResult;
  };
}

type ServiceChild = Child<ServerCommand, ServerReport>;

/**
 * A hosting provider's case: starts from a 10 000-domain config twice (cold: the state dir is
 * empty and certificates are issued; warm: they are reused), then changes the file under load.
 */
export async function runScale(work: string, progress: (line: string) => void): Promise<ScaleResult> {
  const dir = join(work, 'scale');
  // The config folder holds only the config: the service watches the whole folder.
  const configDir = join(dir, 'config');
  await mkdir(configDir, { recursive: true });
  await mkdir(join(dir, 'logs'));
  const configPath = join(configDir, 'mta-sts.yaml');
  const text = scaleConfig(SCALE_DOMAINS);
  await writeFile(configPath, text);

  const start = async (name: string) => {
    const forked = performance.now();
    const child: ServiceChild = new Child(`service (${name})`, 'service-host', [
      JSON.stringify({ configPath, tapLog: join(dir, 'logs', `${name}.log`) }),
    ]);
    const ready = await child.next('ready', 120_000);
    return { child, ready, processReadyMs: performance.now() - forked };
  };
  const stop = async (child: ServiceChild) => {
    const stopped = await child.ask({ type: 'stop' }, 'stopped', 15_000);
    await child.exit(10_000);
    return stopped.maxRssKb / 1024;
  };

  const nextText = scaleConfig(SCALE_DOMAINS + 1, 1);
  const steps = timeReloadSteps(text, nextText, configPath);
  progress(`reload steps timed in-process: loadConfigText ${steps.loadConfigTextMs.toFixed(0)} ms`);

  const cold = await start('cold');
  const coldResult = {
    serviceStartMs: cold.ready.startMs,
    processReadyMs: cold.processReadyMs,
    peakRssMb: await stop(cold.child),
  };
  progress(`cold start ${coldResult.serviceStartMs.toFixed(0)} ms`);

  const warm = await start('warm');
  const ca = await readFile(join(dir, 'state', 'self-signed', 'ca.pem'), 'utf8');
  const hosts = Array.from({ length: SCALE_DOMAINS }, (_, index) => POLICY_HOST_PREFIX + scaleDomain(index + 1));
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
  const warmResult = {
    serviceStartMs: warm.ready.startMs,
    processReadyMs: warm.processReadyMs,
    peakRssMb: await stop(warm.child),
  };
  return {
    domains: SCALE_DOMAINS,
    configBytes: Buffer.byteLength(text),
    steps,
    cold: coldResult,
    warm: warmResult,
    reload: { reloadMs: reloaded.reloadMs, maxStallMs: reloaded.maxStallMs, newHostsReadyMs: reloaded.newHostsReadyMs, client },
  };
}

/** Which synchronous step of a reload costs what: the service runs them back to back on its event loop. */
function timeReloadSteps(text: string, nextText: string, configPath: string): ReloadSteps {
  const timed = <T>(step: () => T): [T, number] => {
    const started = performance.now();
    const result = step();
    return [result, performance.now() - started];
  };
  const load = (source: string) => {
    const loaded = loadConfigText(source, configPath);
    if (!loaded.ok) throw new Error(`scale config rejected:\n${loaded.errors.slice(0, 5).join('\n')}`);
    return loaded.config;
  };
  const current = new PolicySet(load(text).domains);
  const samples: ReloadSteps[] = [];
  // The first pass only warms the JIT up, as the running service's first load did.
  for (let pass = 0; pass < 4; pass++) {
    const [, yamlParseMs] = timed(() => parseYaml(nextText, configPath));
    const [config, loadConfigTextMs] = timed(() => load(nextText));
    const [next, policySetMs] = timed(() => new PolicySet(config.domains));
    const [, diffMs] = timed(() => diffPolicySets(current, next));
    if (pass > 0) samples.push({ yamlParseMs, loadConfigTextMs, policySetMs, diffMs });
  }
  const of = (key: keyof ReloadSteps) => median(samples.map((sample) => sample[key]));
  return {
    yamlParseMs: of('yamlParseMs'),
    loadConfigTextMs: of('loadConfigTextMs'),
    policySetMs: of('policySetMs'),
    diffMs: of('diffMs'),
  };
}
