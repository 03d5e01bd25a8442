import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cliInProcess, cliProcess } from './support/cli.js';
import { BASE, expectedAfter, mutatedFile, randomSource, SEED, SUFFIX } from './support/config-mutations.js';
import { serveProcess } from './support/json-log-process.js';
import { startTestServiceAt, writeTestConfig } from './support/service.js';
import { serveInThisProcess } from './support/start-failure.js';
import { aliasBomb } from './support/yaml-inputs.js';

// Property test of "no config kills the service" at start: random mutations of a valid config
// (as config-fuzz.test.ts writes them to a live service) given to `serve` and `check-config`.
// Set MTA_STS_FUZZ_SEED to replay a run; every failure names its seed and sample.

const START_SAMPLES = 64;

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

test(`no config at start takes a stack trace out (seed ${SEED}): exit 0 or 2`, { timeout: 150_000 }, randomConfigsAtStart);

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
