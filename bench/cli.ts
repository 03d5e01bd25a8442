/**
 * Start-up cost of the short CLI commands: the wall time of each against `node -e 0`, the floor
 * every Node command pays on this machine. Runs are paired, one of each back to back, the order
 * alternating from round to round; each pair gives a ratio and the median ratio is the result,
 * so that the machine's drift between rounds (shared CPUs) cancels out.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { median } from './report.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../config/example.yaml', import.meta.url));

export interface CliTiming {
  rounds: number;
  /** Unmeasured runs of each command first: the file cache (and a compile cache) filled. */
  warmups: number;
}

export interface CliCase {
  name: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** The limit on the median ratio, where there is one. */
  target?: number;
}

export interface CliResult {
  name: string;
  medianMs: number;
  baselineMedianMs: number;
  /** Median of the per-round ratios command / `node -e 0`. */
  ratio: number;
  ratios: number[];
  target: number | null;
}

/** The commands measured: check-config on the example config has the target, 3× `node -e 0`. */
export async function cliCases(work: string): Promise<CliCase[]> {
  // stats needs a database to read: an empty one, in the state_dir of a copy of the example config.
  const dir = await mkdtemp(join(work, 'cli-'));
  const configPath = join(dir, 'mta-sts.yaml');
  const example = await readFile(EXAMPLE, 'utf8');
  const copy = example.replace(/^state_dir: .*$/m, 'state_dir: state');
  if (copy === example) throw new Error(`${EXAMPLE} has no state_dir line to point at the bench's own folder`);
  await writeFile(configPath, copy);
  await mkdir(join(dir, 'state'));
  await SqliteFetchStatistics.open(join(dir, 'state')).close();
  const cases: CliCase[] = [
    { name: 'check-config config/example.yaml', args: ['check-config', '--config', EXAMPLE], target: 3 },
    { name: 'dns config/example.yaml', args: ['dns', '--config', EXAMPLE] },
    { name: 'stats (empty database)', args: ['stats', '--config', configPath] },
    { name: 'who (empty input)', args: ['who'] },
    { name: '--help', args: ['--help'] },
  ];
  // Node 22.1+ keeps compiled code on disk between runs (module.enableCompileCache), which the CLI
  // turns on for the short commands (src/cli/compile-cache.ts): this shows what it gives.
  if ('enableCompileCache' in module) {
    cases.push({
      name: 'check-config, compile cache off',
      args: ['check-config', '--config', EXAMPLE],
      env: { NODE_DISABLE_COMPILE_CACHE: '1' },
    });
  }
  return cases;
}

function wallMs(args: string[], env: NodeJS.ProcessEnv | undefined): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, {
    input: '',
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, MTA_STS_CONFIG: undefined, ...env },
    timeout: 60_000,
  });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
  return ms;
}

export function runCliBench(cases: readonly CliCase[], timing: CliTiming, progress: (line: string) => void): CliResult[] {
  const baseline = ['-e', '0'];
  return cases.map((cliCase) => {
    const command = [MAIN, ...cliCase.args];
    for (let i = 0; i < timing.warmups; i++) {
      wallMs(baseline, undefined);
      wallMs(command, cliCase.env);
    }
    const rounds = Array.from({ length: timing.rounds }, (_, round) => {
      // Alternate which runs first: a run can leave the machine warmer (or busier) for the next.
      if (round % 2 === 0) {
        const baselineMs = wallMs(baseline, undefined);
        return { baselineMs, commandMs: wallMs(command, cliCase.env) };
      }
      const commandMs = wallMs(command, cliCase.env);
      return { baselineMs: wallMs(baseline, undefined), commandMs };
    });
    const result: CliResult = {
      name: cliCase.name,
      medianMs: median(rounds.map((round) => round.commandMs)),
      baselineMedianMs: median(rounds.map((round) => round.baselineMs)),
      ratio: median(rounds.map((round) => round.commandMs / round.baselineMs)),
      ratios: rounds.map((round) => round.commandMs / round.baselineMs),
      target: cliCase.target ?? null,
    };
    progress(
      `${cliCase.name}: ${result.medianMs.toFixed(0)} ms against ${result.baselineMedianMs.toFixed(0)} ms, ratio ${result.ratio.toFixed(2)}`,
    );
    return result;
  });
}
