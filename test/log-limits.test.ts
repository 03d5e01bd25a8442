import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { test } from 'node:test';
import { LogLimit } from '../src/fetches/log-limit.js';
import { createLogger } from '../src/log/logger.js';
import { LOGGED_TEXT_LIMIT, printable } from '../src/text/printable.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { samples, scrape } from './support/metrics.js';
import { rawHttpsRequest } from './support/raw-client.js';
import { LogCapture, LOOPBACK_LISTEN, startTestService, type TestService } from './support/service.js';

// What a client can make the log say, and how much of it: attacker text is cut and escaped, and
// requests that are not policy fetches of our domains write a bounded number of lines.

const POLICY_HOST = 'mta-sts.example.com';
const CONFIG = `domains:\n  example.com: { mode: testing, mx: [mail.example.com] }\n${LOOPBACK_LISTEN}`;

/** Any control character (C0, DEL, C1) in a string anywhere in a log line. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const stringsOf = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : value !== null && typeof value === 'object'
      ? Object.values(value).flatMap(stringsOf)
      : [];

interface Client {
  running: TestService;
  ca: string;
  agent: Agent;
}

async function startClient(options: Parameters<typeof startTestService>[1] = {}): Promise<Client> {
  const running = await startTestService(CONFIG, options);
  const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
  return { running, ca, agent: new Agent({ keepAlive: true, maxSockets: 1 }) };
}

/** A request for the policy path on a connection for the policy host (SNI), naming `host` in the Host header. */
async function get(client: Client, host: string, headers: Record<string, string> = {}, method = 'GET'): Promise<number> {
  const { running, ca, agent } = client;
  return (await fetchPolicy({ port: running.httpsPort, host, servername: POLICY_HOST, ca, agent, headers, method })).status;
}

async function stop(client: Client): Promise<void> {
  client.agent.destroy();
  await client.running.service.stop();
}

test('printable: controls (C0, DEL, C1), bidi controls and the backslash are escaped; long text is cut and the cut marked', () => {
  assert.equal(
    printable('a\u001b[31mb\u007fc\u009b2Jd\u0085e\\u009bf\u202eg', 100),
    'a\\u001b[31mb\\u007fc\\u009b2Jd\\u0085e\\\\u009bf\\u202eg',
  );
  assert.equal(printable('x'.repeat(16_000), LOGGED_TEXT_LIMIT), `${'x'.repeat(256)}…(+15744)`);
  // A character outside the BMP is two UTF-16 units: the cut goes before it, not through it.
  assert.equal(printable(`${'x'.repeat(255)}😀`, 256), `${'x'.repeat(255)}…(+2)`);
  assert.equal(printable('Google-SMTP-STS', LOGGED_TEXT_LIMIT), 'Google-SMTP-STS');
});

test('the fetch log cuts a long User-Agent and Host and escapes C1 controls; C0 and DEL never get past the parser', async () => {
  const client = await startClient();
  const { running } = client;
  try {
    const longUa = 'A'.repeat(16_000);
    assert.equal(await get(client, POLICY_HOST, { 'user-agent': longUa }), 200);
    // Node's client sends header values as Latin-1, as an attacker's bytes 0x9b and 0x85 arrive.
    assert.equal(await get(client, POLICY_HOST, { 'user-agent': 'x\u009b2J\u009b31mred\u0085\\' }), 200);
    const longHost = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(60)}.example`;
    assert.equal(await get(client, longHost, { 'user-agent': 'probe' }), 404);
    // ESC, DEL and other C0 bytes in a header, or controls in the Host, are a malformed request: 400, no line.
    for (const header of [
      'User-Agent: a\x1b[2Jb',
      'User-Agent: a\x7fb',
      `Host: mta-sts.example.com\x1b[2J`,
      'Host: mta-sts.ex\x9bample.com',
    ]) {
      const host = header.startsWith('Host:') ? '' : `Host: ${POLICY_HOST}\r\n`;
      const response = await rawHttpsRequest(
        running.httpsPort,
        `GET /.well-known/mta-sts.txt HTTP/1.1\r\n${host}${header}\r\nConnection: close\r\n\r\n`,
        { servername: POLICY_HOST, ca: client.ca },
      );
      assert.equal(response.status, 400, JSON.stringify(header));
    }
    assert.equal(await get(client, POLICY_HOST, { 'user-agent': 'last' }), 200);
    await running.log.waitFor((line) => line.event === 'policy_fetch' && line.ua === 'last');

    const fetches = running.log.events('policy_fetch');
    assert.deepEqual(
      fetches.map((line) => [line.status, line.ua, line.host]),
      [
        [200, `${'A'.repeat(256)}…(+15744)`, POLICY_HOST],
        [200, 'x\\u009b2J\\u009b31mred\\u0085\\\\', POLICY_HOST],
        [404, 'probe', `${longHost.slice(0, 256)}…(+${longHost.length - 256})`],
        [200, 'last', POLICY_HOST],
      ],
    );
    for (const line of running.log.lines) {
      for (const text of stringsOf(line)) assert.doesNotMatch(text, CONTROL, JSON.stringify(line));
    }
  } finally {
    await stop(client);
  }
});

/** The log_suppressed lines' counts and the 404 lines written, once every request is in. */
function suppression(log: LogCapture): { written: number; suppressed: number; windows: Record<string, unknown>[] } {
  const windows = log.events('log_suppressed');
  return {
    written: log.events('policy_fetch').filter((line) => line.status === 404).length,
    suppressed: windows.reduce((sum, line) => sum + (line.suppressed as number), 0),
    windows,
  };
}

test('a flood of 404s from one address: 20 lines a minute, then one log_suppressed line with the count; every policy fetch is logged', async () => {
  const client = await startClient();
  const { running } = client;
  const flood = 200;
  const fetches = 40;
  try {
    for (let i = 0; i < flood; i++) {
      assert.equal(await get(client, 'mta-sts.not-ours.example', { 'user-agent': `scanner ${i}` }), 404);
      if (i % 5 === 0)
        assert.equal(await get(client, POLICY_HOST, { 'user-agent': `sender ${i}` }, i % 10 === 0 ? 'GET' : 'HEAD'), 200);
    }
    // The metrics count every request, written or not.
    const metrics = samples((await scrape(running.service.listeners.adminAddress!.port)).body, 'mta_sts_policy_fetches_total');
    assert.equal(metrics.find((sample) => sample.labels.status === '404')?.value, flood);
    assert.equal(metrics.find((sample) => sample.labels.status === '200')?.value, fetches);
  } finally {
    await stop(client);
  }
  const policyFetches = running.log.events('policy_fetch').filter((line) => line.status === 200);
  assert.equal(policyFetches.length, fetches);
  // The count is written at stop (or when the minute ends, if the flood crossed into the next one).
  const { written, suppressed, windows } = suppression(running.log);
  assert.equal(written + suppressed, flood);
  assert.equal(written, 20 * windows.length, JSON.stringify(windows));
  assert.ok(windows.length === 1 || windows.length === 2, JSON.stringify(windows));
  for (const line of windows) {
    assert.equal(line.ip, '127.0.0.1');
    assert.ok(Date.parse(line.until as string) - Date.parse(line.since as string) <= 60_000);
  }
  const stopped = running.log.lines.findIndex((line) => line.event === 'service_stopped');
  assert.ok(running.log.lines.indexOf(windows.at(-1)!) < stopped, 'the last count comes before service_stopped');
});

test('the count is written when the window ends, without a further request; the next window writes lines again', async () => {
  const client = await startClient({ logLimits: { linesPerAddress: 2, windowMs: 1_500 } });
  const { running } = client;
  try {
    for (let i = 0; i < 10; i++)
      assert.equal(await get(client, 'mta-sts.not-ours.example', { 'user-agent': `scanner ${i}` }), 404);
    const counted = await running.log.waitFor((line) => line.event === 'log_suppressed');
    assert.equal(counted.ip, '127.0.0.1');
    // Ten requests in at most two windows of two lines each: whatever the split, the lines and counts add up.
    await running.log.waitFor(() => suppression(running.log).written + suppression(running.log).suppressed === 10);
    // A window that got no more than its two lines writes no count: at most one such window beside the counted ones.
    const windows = suppression(running.log).windows.length;
    const { written } = suppression(running.log);
    assert.ok(written >= 2 * windows && written <= 2 * windows + 2, `${written} lines written, ${windows} counts`);
    assert.equal(await get(client, 'mta-sts.not-ours.example', { 'user-agent': 'after the window' }), 404);
    await running.log.waitFor((line) => line.event === 'policy_fetch' && line.ua === 'after the window');
  } finally {
    await stop(client);
  }
});

test('the address table is bounded: past it, the other addresses share one budget and one count (ip null)', () => {
  const log = new LogCapture();
  // A window of 2^40 ms (about 35 years): the whole test is in one.
  const limit = new LogLimit(createLogger('info', log), { linesPerAddress: 2, windowMs: 2 ** 40, maxAddresses: 3 });
  let written = 0;
  for (let round = 0; round < 5; round++) {
    for (let address = 1; address <= 200; address++) if (limit.admit(`192.0.2.${address}`)) written++;
  }
  assert.equal(log.lines.length, 0, 'nothing is written before the window ends');
  limit.close();
  assert.deepEqual(
    log.events('log_suppressed').map((line) => [line.ip, line.suppressed]),
    [
      ['192.0.2.1', 3],
      ['192.0.2.2', 3],
      ['192.0.2.3', 3],
      [null, 197 * 5 - 2],
    ],
  );
  assert.equal(written, 3 * 2 + 2);
});
