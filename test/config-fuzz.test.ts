import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:https';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../src/config/load.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { cliInProcess, cliProcess } from './support/cli.js';
import { serveProcess } from './support/json-log-process.js';
import { LOOPBACK_LISTEN, startTestService, startTestServiceAt, writeTestConfig } from './support/service.js';
import { serveInThisProcess } from './support/start-failure.js';
import { aliasBomb } from './support/yaml-inputs.js';

// Property tests of "no config kills the service": random mutations of a valid config, written
// to the live file of a running service and given to `serve` and `check-config` at start. Set
// MTA_STS_FUZZ_SEED to replay a run; every failure names its seed and iteration.

const SEED = Number(process.env.MTA_STS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const RELOAD_ITERATIONS = 2_000;
const START_SAMPLES = 64;
const HOST = 'mta-sts.example.com';

/** The part that is mutated: everything the policies come from. */
const BASE = `defaults:
  mode: testing
  max_age: 604800
  tlsrpt: { rua: ["mailto:tls-reports@example.com"] }
domains:
  example.com:
    mode: enforce
    mx:
      - mail.example.com
      - "*.mail.protection.outlook.com"
    max_age: 1209600
  example.org: { mx: [mx1.example.org, mx2.example.org] }
  example.net: { mode: none }
trust_proxy: [10.0.0.0/8]
`;
/** Kept as it is, so that a mutation never moves the listeners or silences the log the test reads. */
const SUFFIX = `log: { level: info }\n${LOOPBACK_LISTEN}`;

/** mulberry32: small, fast, and the same sequence for the same seed on every Node. */
function randomSource(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (below: number) => Math.floor(next() * below);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)]! };
}
type Random = ReturnType<typeof randomSource>;

const TOKENS = [
  '*',
  '*.',
  '&',
  '&a ',
  '*a',
  '!',
  '!!str ',
  '!!binary ',
  '!enforce ',
  '\t',
  '\0',
  '\ufeff',
  '\r',
  '\n',
  '  ',
  '[',
  ']',
  '{',
  '}',
  ':',
  ': ',
  ',',
  '#',
  '"',
  "'",
  '|',
  '>',
  '- ',
  '? ',
  '%',
  '@',
  '`',
  '---\n',
  '...\n',
  '<<: ',
  '~',
  'null',
  '0x1F',
  '1e999',
  '.inf',
  '-0',
  '\u0085',
  '\u2028',
  '\u202e',
  '\ud800',
  'é',
  '192.0.2.1',
  '[::1]',
  'mta-sts.',
];
const VALUES = ['enforce', 'testing', 'none', 'enforced', '0', '31557600', '31557601', '-1', '"*.mail.example.com"', '[]', '{}'];

/** One change to the text; about a third keep it valid, so both outcomes of a reload are exercised. */
const MUTATIONS: ((text: string, random: Random) => string)[] = [
  (text, random) => text.slice(0, random.int(text.length)),
  (text, random) => insertAt(text, random, String.fromCharCode(random.int(0x3000))),
  (text, random) => insertAt(text, random, random.pick(TOKENS)),
  (text, random) => {
    const depth = 10 + random.int(5_000);
    return insertAt(
      text,
      random,
      random.next() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{a: '.repeat(depth)}${'}'.repeat(depth)}`,
    );
  },
  // Huge next to any name or message (a DNS name is at most 253 bytes); parsed twice per edit, so not larger.
  (text, random) => insertAt(text, random, 'x'.repeat(10_000 + random.int(90_000))),
  (text, random) => withLines(text, (lines) => lines.splice(random.int(lines.length), 0, random.pick(lines))),
  (text, random) => withLines(text, (lines) => lines.splice(random.int(lines.length), 1)),
  (text, random) =>
    withLines(text, (lines) => lines.splice(random.int(lines.length), 0, lines.splice(random.int(lines.length), 1)[0]!)),
  (text) => aliasBomb('bomb') + text,
  (text) => text.replace('"*.mail.protection.outlook.com"', '*.mail.protection.outlook.com'),
  // Valid edits: another mode, max_age or mx list.
  (text, random) => text.replace(/mode: \w+/, `mode: ${random.pick(['enforce', 'testing', 'none'])}`),
  (text, random) => text.replace(/max_age: \d+/, `max_age: ${random.int(31_557_600)}`),
  (text, random) => text.replace('- mail.example.com', `- mx${random.int(100)}.example.com`),
  (text, random) => text.replace(/mode: \w+|max_age: \d+/, (field) => `${field.split(':')[0]}: ${random.pick(VALUES)}`),
];

function insertAt(text: string, random: Random, insert: string): string {
  const at = random.int(text.length + 1);
  return text.slice(0, at) + insert + text.slice(at);
}

function withLines(text: string, change: (lines: string[]) => void): string {
  const lines = text.split('\n');
  change(lines);
  return lines.join('\n');
}

/** One to three mutations of the base; one file in eight also gets a raw byte flipped (invalid UTF-8 included). */
function mutatedFile(random: Random): Buffer {
  let text = BASE;
  for (let count = 1 + random.int(3); count > 0; count--) text = random.pick(MUTATIONS)(text, random);
  const bytes = Buffer.from(text + SUFFIX, 'utf8');
  if (random.next() < 0.125) bytes[random.int(BASE.length)] ^= 1 << random.int(8);
  return bytes;
}

/** The policy body the service should serve for HOST after loading `bytes`, or undefined when it should keep the last one. */
function expectedAfter(bytes: Buffer, path: string): { served: string | null } | undefined {
  const loaded = parseConfigText(bytes.toString('utf8'), path);
  if (!loaded.ok) return undefined;
  return { served: new PolicySet(loaded.config.domains).forHost(HOST)?.body.toString('ascii') ?? null };
}

/** The policy over real HTTPS; a host that is no longer served may have lost its certificate, so the name is not checked. */
function fetchServed(port: number, ca: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(
      {
        host: '127.0.0.1',
        port,
        path: '/.well-known/mta-sts.txt',
        servername: HOST,
        headers: { host: HOST },
        ca,
        agent,
        checkServerIdentity: () => undefined,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    ).on('error', reject);
  });
}

async function randomLiveEdits(): Promise<void> {
  const random = randomSource(SEED);
  const running = await startTestService(BASE + SUFFIX);
  const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let lastGood: string | null = expectedAfter(Buffer.from(BASE + SUFFIX), running.configPath)!.served;
  let accepted = 0;
  try {
    for (let iteration = 0; iteration < RELOAD_ITERATIONS; iteration++) {
      const bytes = mutatedFile(random);
      const where = `seed ${SEED}, iteration ${iteration}; the file began: ${JSON.stringify(bytes.subarray(0, 300).toString('utf8'))}`;
      // Editors and config management rename a new file over the old one; `cat >`, sed -i and
      // some editors write in place. The watcher sees both; service.reload() is what it calls.
      if (iteration % 2 === 0) {
        await writeFile(running.configPath, bytes);
      } else {
        await writeFile(`${running.configPath}.new`, bytes);
        await rename(`${running.configPath}.new`, running.configPath);
      }
      await running.service.reload();
      const expected = expectedAfter(bytes, running.configPath);
      if (expected) {
        accepted++;
        lastGood = expected.served;
      }
      const response = await fetchServed(running.httpsPort, ca, agent).catch((error: Error) => error);
      if (lastGood === null) {
        // Not served: a 4xx, or no handshake at all when no host of the file has a certificate.
        if (!(response instanceof Error))
          assert.ok(response.status >= 400 && response.status < 500, `${where}: ${response.status}`);
      } else {
        if (response instanceof Error) assert.fail(`${where}: the policy fetch failed: ${response.message}`);
        assert.deepEqual(response, { status: 200, body: lastGood }, where);
      }
    }
  } finally {
    agent.destroy();
    await running.service.stop();
  }
  // Each outcome happened often enough to mean something, and nothing escaped the loader.
  assert.ok(accepted > RELOAD_ITERATIONS / 10, `seed ${SEED}: only ${accepted} of the mutated files were valid`);
  assert.ok(running.log.events('config_invalid').length > RELOAD_ITERATIONS / 10, `seed ${SEED}`);
  assert.deepEqual(running.log.events('config_error'), [], `seed ${SEED}`);
}

/** Stack frames, or a thrown error printed as such: what a user must never see. */
const STACK_TRACE = /^\s+at |\b[A-Za-z]*Error: |node:internal/m;

/**
 * check-config and serve on each sample. The first invalid sample runs as the processes a user
 * starts; the others through the same dispatcher in this process (a process start-up costs more
 * than a hundred samples), a valid one as Service.start and stop. That the processes say and
 * exit as the dispatcher does, and that a valid start ends with exit 0 on SIGTERM, is
 * cli.test.ts's to prove.
 */
async function randomConfigsAtStart(): Promise<void> {
  const random = randomSource(SEED ^ 0x5eed);
  const files = [
    Buffer.from(BASE + SUFFIX),
    // Larger than the random ones, and than one read of the file (1 MiB).
    Buffer.from(BASE.replace('mx1.example.org', 'x'.repeat(2 * 1024 * 1024)) + SUFFIX),
    ...Array.from({ length: START_SAMPLES }, () => mutatedFile(random)),
  ];
  const samples = await Promise.all(
    files.map(async (bytes) => {
      const { dir, configPath } = await writeTestConfig('');
      await writeFile(configPath, bytes);
      return { bytes, dir, configPath, valid: expectedAfter(bytes, configPath) !== undefined };
    }),
  );
  const asProcess = samples.find((sample) => !sample.valid);

  for (const [index, sample] of samples.entries()) {
    const { bytes, dir, configPath, valid } = sample;
    const where = `seed ${SEED}, sample ${index}; the file began: ${JSON.stringify(bytes.subarray(0, 300).toString('utf8'))}`;
    const args = ['check-config', '--config', configPath];
    const checked = sample === asProcess ? await cliProcess(args) : await cliInProcess(args);
    const checkOutput = checked.stdout + checked.stderr;
    assert.equal(checked.code, valid ? 0 : 2, `${where}\n${checkOutput}`);
    assert.doesNotMatch(checkOutput, STACK_TRACE, where);
    // serve: a valid file starts (and stops cleanly), an invalid one exits 2.
    const served = sample === asProcess ? await serveAsProcess(configPath) : await serveHere(dir, configPath, valid);
    assert.equal(served.code, valid ? 0 : 2, `${where}\n${served.output}`);
    assert.doesNotMatch(served.output, STACK_TRACE, where);
  }
}

/** What serve said: its log lines, then stderr. */
const outputOf = (lines: Record<string, unknown>[], stderr = '') =>
  `${lines.map((line) => JSON.stringify(line)).join('\n')}\n${stderr}`;

/** An invalid config: serve exits on its own. */
async function serveAsProcess(configPath: string): Promise<{ code: number | null; output: string }> {
  const served = serveProcess(configPath);
  const { code } = await served.exited;
  return { code, output: outputOf(served.lines, served.stderr) };
}

async function serveHere(dir: string, configPath: string, valid: boolean): Promise<{ code: number | null; output: string }> {
  if (!valid) {
    const { code, lines, stderr } = await serveInThisProcess(configPath);
    return { code, output: outputOf(lines, stderr) };
  }
  const running = await startTestServiceAt(dir, configPath);
  await running.service.stop();
  return { code: 0, output: outputOf(running.log.lines) };
}

test(`no config takes the service down (seed ${SEED})`, { concurrency: true, timeout: 150_000 }, async (t) => {
  await Promise.all([
    t.test('random edits of the live config: the new policy or the last good one is served', randomLiveEdits),
    t.test('random configs at start: exit 0 or 2, never a stack trace', randomConfigsAtStart),
  ]);
});

test('alias bombs are rejected with little memory: a child that rejects one peaks near one that loads a small file', async () => {
  const { dir } = await writeTestConfig('');
  const small = `${dir}/small.yaml`;
  await writeFile(small, BASE + SUFFIX);
  const bombs = {
    // Under a field whose error message quotes the value: before, the message expanded it.
    'in-a-message.yaml': `${aliasBomb('unused')}domains:\n  example.com: { mode: *l8 }\n`,
    'mappings.yaml': [
      'm0: &m0 { a: x, b: x, c: x, d: x, e: x, f: x, g: x, h: x, i: x }',
      ...Array.from(
        { length: 9 },
        (_, level) =>
          `m${level + 1}: &m${level + 1} { ${'abcdefghi'
            .split('')
            .map((key) => `${key}: *m${level}`)
            .join(', ')} }`,
      ),
      'domains: *m9',
      '',
    ].join('\n'),
  };
  const load = fileURLToPath(new URL('../src/config/load.js', import.meta.url));
  const peakOf = async (path: string) => {
    const script =
      `const { loadConfigFile } = await import(${JSON.stringify(load)});` +
      `const result = await loadConfigFile(${JSON.stringify(path)});` +
      'process.stdout.write(JSON.stringify({ ok: result.ok, errors: result.ok ? [] : result.errors, maxRssKb: process.resourceUsage().maxRSS }));';
    const output = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    return JSON.parse(output) as { ok: boolean; errors: string[]; maxRssKb: number };
  };
  const baseline = await peakOf(small);
  assert.equal(baseline.ok, true);
  for (const [name, text] of Object.entries(bombs)) {
    await writeFile(`${dir}/${name}`, text);
    const bombed = await peakOf(`${dir}/${name}`);
    assert.equal(bombed.ok, false, name);
    assert.match(bombed.errors.join('\n'), /aliases add more than 100,000 nodes in all/, name);
    const aboveMb = (bombed.maxRssKb - baseline.maxRssKb) / 1024;
    assert.ok(aboveMb < 50, `${name}: peak RSS ${aboveMb.toFixed(1)} MB above a small valid file`);
  }
});
