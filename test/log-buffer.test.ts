import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliInProcess } from './support/cli.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { serveProcess, type JsonLogProcess } from './support/json-log-process.js';
import { freePorts } from './support/ports.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig } from './support/service.js';
import { serveUntilExit, theFailure } from './support/start-failure.js';

// log.buffer_bytes and log.flush_interval_ms on the service as it runs in production: its own
// process, its log on a pipe, fetches over HTTPS, and signals (kill -9 among them) from outside.

const FETCHES = 20;
/** How long a test waits for a line or an exit; far below the 60 s flush interval of the SIGUSR1 test. */
const WAIT_MS = 5_000;
const ONE_DOMAIN = 'domains:\n  example.com: { mode: none }\n';
const INTERVAL_MS = 200;

/** The service as its own process, on a config with `log` settings appended; `listen` replaces the loopback one. */
async function serveWith(log: string, listen = LOOPBACK_LISTEN) {
  const { dir, configPath } = await writeTestConfig(`${ONE_DOMAIN}${listen}log: ${log}\n`);
  return { served: serveProcess(configPath), caPath: join(dir, 'state', 'self-signed', 'ca.pem') };
}

/** `count` policy fetches, one after the other, each answered 200. */
async function fetchPolicies(port: number, caPath: string, count: number): Promise<void> {
  const ca = await readFile(caPath, 'utf8');
  for (let fetched = 0; fetched < count; fetched++) {
    const { status } = await fetchPolicy({ port, host: 'mta-sts.example.com', ca });
    assert.equal(status, 200);
  }
}

/** GET /healthz on the plain HTTP listener, answered 200. */
async function healthz(port: number): Promise<void> {
  const [response] = (await once(get({ host: '127.0.0.1', port, path: '/healthz' }), 'response')) as [IncomingMessage];
  assert.equal(response.statusCode, 200);
  response.resume();
  await once(response, 'end');
}

/** The HTTPS port the service announced in its service_started line. */
async function httpsPort(served: JsonLogProcess): Promise<number> {
  const started = await served.waitForEvent('service_started', WAIT_MS);
  return (started.https as { port: number }).port;
}

/** Ends the process with `signal` and resolves once it has exited and its stdout is read to the end. */
async function endWith(
  served: JsonLogProcess,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const closed = once(served.child, 'close');
  served.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${WAIT_MS} ms after ${signal}`)), WAIT_MS);
  });
  try {
    const [code, exitSignal] = (await Promise.race([closed, deadline])) as [number | null, NodeJS.Signals | null];
    return { code, signal: exitSignal };
  } finally {
    clearTimeout(timer);
  }
}

const fetchLines = (served: JsonLogProcess) => served.lines.filter((line) => line.event === 'policy_fetch');

test('log.buffer_bytes 0 (the default): kill -9 right after the answers loses no policy_fetch line', async () => {
  const { served, caPath } = await serveWith('{ level: info }');
  try {
    const started = await served.waitForEvent('service_started', WAIT_MS);
    await fetchPolicies((started.https as { port: number }).port, caPath, FETCHES);
    // A fetch's line is written right after its answer is sent, in the same turn of the event
    // loop: an answer to any later request shows that the last line was written too.
    await healthz((started.http as { port: number }).port);
    assert.deepEqual(await endWith(served, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
    assert.equal(fetchLines(served).length, FETCHES, `stderr:\n${served.stderr}`);
  } finally {
    await served.kill();
  }
});

test('log.buffer_bytes 65536: the lines still gathered when SIGTERM comes are written by the stop', async () => {
  const { served, caPath } = await serveWith(`{ buffer_bytes: 65536, flush_interval_ms: ${INTERVAL_MS} }`);
  try {
    await fetchPolicies(await httpsPort(served), caPath, FETCHES);
    assert.deepEqual(await endWith(served, 'SIGTERM'), { code: 0, signal: null }, `stderr:\n${served.stderr}`);
    assert.equal(fetchLines(served).length, FETCHES);
    assert.equal(served.lines.at(-1)!.event, 'service_stopped');
  } finally {
    await served.kill();
  }
});

test('SIGUSR1 writes out the gathered lines long before flush_interval_ms, then a log_flushed line; no inspector starts', async () => {
  // With a 60 s interval nothing is written before the signal, service_started neither: the test
  // knows the service is up when its port answers, at a port it chose.
  const [port] = (await freePorts(1)) as [number];
  const { served, caPath } = await serveWith(
    '{ buffer_bytes: 65536, flush_interval_ms: 60000 }',
    LOOPBACK_LISTEN.replace('https: 0', `https: ${port}`),
  );
  try {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const answered = await fetchPolicies(port, caPath, 1).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT' && error.code !== 'ECONNREFUSED') throw error;
          return false;
        },
      );
      if (answered) break;
      assert.ok(served.running && Date.now() < deadline, `the service did not answer within ${WAIT_MS} ms: ${served.stderr}`);
      await sleep(50);
    }
    await fetchPolicies(port, caPath, FETCHES);
    assert.equal(served.lines.length, 0, 'lines were written before the signal');

    served.child.kill('SIGUSR1');
    const flushed = await served.waitForEvent('log_flushed', WAIT_MS);
    assert.deepEqual([flushed.level, flushed.signal], ['info', 'SIGUSR1']);
    assert.equal(served.lines.at(-1), flushed);
    assert.ok(served.lines.some((line) => line.event === 'service_started'));
    assert.equal(fetchLines(served).length, FETCHES + 1);
    assert.doesNotMatch(served.stderr, /Debugger listening/);
    assert.equal(served.running, true);
  } finally {
    await served.kill();
  }
});

test('log.flush_interval_ms 200: the interval writes the lines out, and kill -9 loses at most its last interval', async () => {
  const { served, caPath } = await serveWith(`{ buffer_bytes: 65536, flush_interval_ms: ${INTERVAL_MS} }`);
  try {
    const port = await httpsPort(served);
    // Far fewer than 64 KiB, with no stop or signal: only the interval writes them out.
    await fetchPolicies(port, caPath, FETCHES);
    await served.waitFor(`${FETCHES} policy_fetch lines`, () => fetchLines(served).length === FETCHES, 10 * INTERVAL_MS);

    // Fetches for several intervals, then kill -9 at once: only those of the last interval may be lost.
    const ca = await readFile(caPath, 'utf8');
    const answeredAt: number[] = [];
    for (const until = Date.now() + 6 * INTERVAL_MS; Date.now() < until; answeredAt.push(Date.now()))
      assert.equal((await fetchPolicy({ port, host: 'mta-sts.example.com', ca })).status, 200);
    const killedAt = Date.now();
    assert.deepEqual(await endWith(served, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
    const lost = answeredAt.slice(fetchLines(served).length - FETCHES);
    // The interval's timer may fire late on a busy machine: a margin of two more intervals.
    const oldestLostMs = lost.length === 0 ? 0 : killedAt - lost[0]!;
    assert.ok(
      oldestLostMs <= 3 * INTERVAL_MS,
      `${lost.length} of ${answeredAt.length} lines lost, the oldest answered ${oldestLostMs} ms before kill -9`,
    );
  } finally {
    await served.kill();
  }
});

test('log.buffer_bytes 65536: a start that fails writes the lines gathered so far, then the service_failed line', async () => {
  const busy = createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  try {
    const { configPath } = await writeTestConfig(
      `${ONE_DOMAIN}${LOOPBACK_LISTEN.replace('https: 0', `https: ${(busy.address() as AddressInfo).port}`)}` +
        'log: { buffer_bytes: 65536, flush_interval_ms: 60000 }\n',
    );
    const run = serveUntilExit(configPath);
    assert.equal(run.code, 1);
    assert.equal(theFailure(run).setting, 'listen.https');
    // The certificate was made before the listeners failed: its line was gathered, and comes first.
    assert.deepEqual(
      run.lines.map((line) => line.event),
      ['certificate_loaded', 'service_failed'],
    );
  } finally {
    busy.close();
  }
});

test('log.buffer_bytes and log.flush_interval_ms: located problems from check-config, and a warning for an interval without a buffer', async () => {
  const { configPath } = await writeTestConfig(`${ONE_DOMAIN}log:\n  buffer_bytes: 100\n  flush_interval_ms: 5\n`);
  const bufferAllowed =
    'allowed: 0 (every line written as it is logged) or 512 to 1048576 bytes (lines gathered into writes of that size)';
  assert.deepEqual(await cliInProcess(['check-config', '--config', configPath]), {
    code: 2,
    stdout: '',
    stderr:
      `${configPath}:4:17 log.buffer_bytes: 100 is too small; ${bufferAllowed}\n` +
      `${configPath}:5:22 log.flush_interval_ms: 5 is too small; allowed: 10 to 60000 milliseconds\n` +
      `${configPath}: 2 problems; nothing was changed\n`,
  });
  await writeFile(configPath, `${ONE_DOMAIN}log: { buffer_bytes: 2097152 }\n`);
  assert.equal(
    (await cliInProcess(['check-config', '--config', configPath])).stderr.split('\n')[0],
    `${configPath}:3:22 log.buffer_bytes: 2097152 is too large; ${bufferAllowed}`,
  );

  await writeFile(configPath, `${ONE_DOMAIN}log: { flush_interval_ms: 100 }\n`);
  assert.deepEqual(await cliInProcess(['check-config', '--config', configPath]), {
    code: 0,
    stdout: `${configPath}: ok, 1 domain\n`,
    stderr:
      `warning: ${configPath}:3:8 log.flush_interval_ms: has no effect while log.buffer_bytes is 0 ` +
      '(every line is written as it is logged); set buffer_bytes to gather lines, or remove flush_interval_ms\n',
  });
});

test('a reload that changes log.buffer_bytes says it takes effect after a restart', async () => {
  const { service, log, configPath } = await startTestService(`${ONE_DOMAIN}${LOOPBACK_LISTEN}`);
  try {
    await writeFile(configPath, `${ONE_DOMAIN}${LOOPBACK_LISTEN}log: { buffer_bytes: 4096 }\n`);
    await service.reload();
    assert.deepEqual(
      log.events('config_restart_required').map(({ settings }) => settings),
      [['log.buffer_bytes']],
    );
  } finally {
    await service.stop();
  }
});
