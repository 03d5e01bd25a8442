/**
 * `mta-sts-server who` on a recorded log: lines per second through the CLI as a user runs it
 * (`who < log`, piped, so one plain line per request is written), against the floor any reader
 * of the log pays, a Node process that reads the same file line by line and parses each line as
 * JSON. Runs are paired, the order alternating, and the ratio of each pair is taken.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, openSync, closeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './report.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** The floor: read every line and parse it, nothing else. */
const PARSE_ONLY = `
const { createInterface } = require('node:readline');
let lines = 0;
const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', (text) => { if (text.startsWith('{')) JSON.parse(text); lines++; });
input.on('close', () => process.stdout.write(String(lines)));
`;

export interface WhoTiming {
  lines: number;
  rounds: number;
}

export interface WhoResult {
  lines: number;
  fileMb: number;
  /** Requests from unknown senders that get no reverse DNS line (private addresses): they wait in `who` for 90 s of log time. */
  requestsWithoutPtr: number;
  whoLinesPerSecond: number;
  parseLinesPerSecond: number;
  /** Median of the per-round ratios who / parse-only lines per second. */
  ratio: number;
  /** The largest resident set `who` reached, in MB; null where /proc is not there to tell. */
  whoPeakRssMb: number | null;
}

/** A small seeded generator: every run writes the same log. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

const PROVIDERS = [
  { share: 0.35, provider: 'google', ua: 'Google-SMTP-STS', ptr: (n: number) => `mail-ua1-f${n % 250}.google.com` },
  { share: 0.3, provider: 'microsoft', ua: '', ptr: (n: number) => `mail-${n % 500}.outbound.protection.outlook.com` },
  { share: 0.1, provider: 'yahoo', ua: 'AHC/2.1', ptr: (n: number) => `sonic${n % 300}.mail.yahoo.com` },
] as const;

/**
 * A log of `lines` lines as a busy host writes it: two requests a millisecond from 60 000
 * addresses; Google, Microsoft and Yahoo by address, the rest unknown, of which half turn out to
 * be Proofpoint by reverse DNS; one request in ten from a private address (a health check
 * through a load balancer, say), which gets no reverse DNS line; every other request's reverse DNS
 * line comes 20 ms to 2 s later; one in twenty is a 404 for another host.
 */
export async function writeRecordedLog(path: string, lines: number): Promise<{ requestsWithoutPtr: number }> {
  const random = seeded(20_261_128);
  const t0 = Date.parse('2026-11-28T10:00:00.000Z');
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  };
  /** Reverse DNS lines not yet written, by time; the delays are bounded, so a sorted insert stays near the end. */
  const pendingPtr: { atMs: number; text: string }[] = [];
  let written = 0;
  let requestsWithoutPtr = 0;
  for (let request = 0; written < lines; request++) {
    const atMs = t0 + request / 2;
    while (pendingPtr.length > 0 && pendingPtr[0]!.atMs <= atMs && written < lines) {
      await write(pendingPtr.shift()!.text);
      written++;
    }
    if (written >= lines) break;
    const n = Math.floor(random() * 60_000);
    const roll = random();
    const isPrivate = roll < 0.1;
    let share = 0.1;
    const known = isPrivate ? undefined : PROVIDERS.find((entry) => roll < (share += entry.share));
    const ip = isPrivate ? `10.0.${n >> 8}.${n & 255}` : `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    const notOurs = random() < 0.05;
    const domain = notOurs ? null : 'example.com';
    const provider = known?.provider ?? 'unknown';
    await write(
      JSON.stringify({
        level: 'info',
        time: new Date(atMs).toISOString(),
        event: 'policy_fetch',
        domain,
        host: notOurs ? 'mta-sts.other.example' : 'mta-sts.example.com',
        ip,
        ua: known?.ua ?? 'mta-sts-resolver/1.0',
        provider,
        provider_evidence: known ? 'ip' : 'none',
        provider_claimed: null,
        method: 'GET',
        status: notOurs ? 404 : 200,
        policy_id: notOurs ? null : 'a5963b31a082635c6ec66817',
        tls: 'TLSv1.3',
        response_ms: 0.3,
      }),
    );
    written++;
    if (isPrivate) {
      if (provider === 'unknown') requestsWithoutPtr++;
      continue;
    }
    const proofpoint = !known && n % 2 === 0;
    const ptr = known ? known.ptr(n) : proofpoint ? `mx0a-${n}.pphosted.com` : null;
    const ptrAt = atMs + 20 + Math.floor(random() * 1_980);
    const text = JSON.stringify({
      level: 'info',
      time: new Date(ptrAt).toISOString(),
      event: 'policy_fetch_ptr',
      domain,
      ip,
      ptr,
      ptr_confirmed: ptr !== null,
      ptr_provider: known ? provider : proofpoint ? 'proofpoint' : null,
      provider: known ? provider : proofpoint ? 'proofpoint' : 'unknown',
      provider_evidence: known ? 'ip+ptr' : proofpoint ? 'ptr' : 'none',
      contradicted: false,
    });
    let at = pendingPtr.length;
    while (at > 0 && pendingPtr[at - 1]!.atMs > ptrAt) at--;
    pendingPtr.splice(at, 0, { atMs: ptrAt, text });
  }
  out.end();
  await once(out, 'finish');
  return { requestsWithoutPtr };
}

/** Runs node with `args`, stdin from `inputPath`, stdout to /dev/null unless `capture`; its wall time and peak RSS. */
async function timedRun(
  args: string[],
  inputPath: string,
  capture: boolean,
): Promise<{ ms: number; stdout: string; peakRssKb: number | null }> {
  const input = openSync(inputPath, 'r');
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: [input, capture ? 'pipe' : 'ignore', 'inherit'] });
  closeSync(input);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  let peakRssKb: number | null = null;
  const poll = setInterval(() => {
    void readFile(`/proc/${child.pid}/status`, 'utf8')
      .then((status) => {
        const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
        if (Number.isFinite(hwm)) peakRssKb = Math.max(peakRssKb ?? 0, hwm);
      })
      .catch(() => undefined);
  }, 50);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(poll);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ').slice(0, 60)} exited ${code}`);
  return { ms, stdout, peakRssKb };
}

export async function runWhoBench(work: string, timing: WhoTiming, progress: (line: string) => void): Promise<WhoResult> {
  const logPath = join(work, 'recorded.log');
  const { requestsWithoutPtr } = await writeRecordedLog(logPath, timing.lines);
  const fileMb = (await stat(logPath)).size / 2 ** 20;
  progress(`recorded log: ${timing.lines} lines, ${fileMb.toFixed(0)} MB`);
  const rounds: { who: number; parse: number }[] = [];
  let whoPeakRssKb: number | null = null;
  for (let round = 1; round <= timing.rounds; round++) {
    const runWho = async () => {
      const run = await timedRun([MAIN, 'who'], logPath, false);
      if (run.peakRssKb !== null) whoPeakRssKb = Math.max(whoPeakRssKb ?? 0, run.peakRssKb);
      return run.ms;
    };
    const runParse = async () => {
      const run = await timedRun(['-e', PARSE_ONLY], logPath, true);
      if (Number(run.stdout) !== timing.lines) throw new Error(`the parse-only run read ${run.stdout} lines`);
      return run.ms;
    };
    // Alternate which runs first: a run can leave the machine warmer (or busier) for the next.
    const [whoMs, parseMs] =
      round % 2 === 1 ? [await runWho(), await runParse()] : await runParse().then(async (parse) => [await runWho(), parse]);
    rounds.push({ who: whoMs!, parse: parseMs! });
    progress(
      `round ${round}: who ${((timing.lines / whoMs!) * 1000).toFixed(0)} lines/s, ` +
        `parse only ${((timing.lines / parseMs!) * 1000).toFixed(0)} lines/s`,
    );
  }
  const perSecond = (ms: number) => (timing.lines / ms) * 1000;
  return {
    lines: timing.lines,
    fileMb,
    requestsWithoutPtr,
    whoLinesPerSecond: median(rounds.map((round) => perSecond(round.who))),
    parseLinesPerSecond: median(rounds.map((round) => perSecond(round.parse))),
    ratio: median(rounds.map((round) => round.parse / round.who)),
    whoPeakRssMb: whoPeakRssKb === null ? null : whoPeakRssKb / 1024,
  };
}
