import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:https';
import { test } from 'node:test';
import { BASE, expectedAfter, HOST, mutatedFile, randomSource, SEED, SUFFIX } from './support/config-mutations.js';
import { startTestService } from './support/service.js';

// Property test of "no config kills the service": random mutations of a valid config written to
// the live file of a running service (config-fuzz-start.test.ts gives them to serve and
// check-config at start). Set MTA_STS_FUZZ_SEED to replay a run; every failure names its seed and iteration.

const RELOAD_ITERATIONS = 2_000;

/** The policy over real HTTPS; the name is not checked (the test is about what is served, not the certificate). */
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
  let lastGood = expectedAfter(Buffer.from(BASE + SUFFIX), running.configPath)!.served;
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
      if (response instanceof Error) assert.fail(`${where}: the policy fetch failed: ${response.message}`);
      assert.deepEqual(response, { status: 200, body: lastGood }, where);
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

test(
  `no edit of the live config takes the service down (seed ${SEED}): the new policy or the last good one is served`,
  { timeout: 150_000 },
  randomLiveEdits,
);
