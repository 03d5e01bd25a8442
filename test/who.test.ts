import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { cliInProcess, MAIN } from './support/cli.js';
import { serveProcess } from './support/json-log-process.js';
import { LOOPBACK_LISTEN, writeTestConfig } from './support/service.js';
import { runOnTerminal } from './support/terminal.js';

/** A recorded stretch of the service's log, as `docker logs` would replay it. */
const fetchLine = (
  time: string,
  domain: string | null,
  ip: string,
  ua: string,
  provider: string,
  claimed: string | null,
  status: number,
  id: string | null,
  method = 'GET',
) =>
  JSON.stringify({
    level: 'info',
    time,
    event: 'policy_fetch',
    domain,
    host: domain ? `mta-sts.${domain}` : 'mta-sts.other.example',
    ip,
    ua,
    provider,
    provider_evidence: claimed ? 'none' : 'ip',
    provider_claimed: claimed,
    method,
    status,
    policy_id: id,
    tls: 'TLSv1.3',
    response_ms: 0.2,
  });

const LOG = [
  JSON.stringify({ level: 'info', time: '2026-11-28T10:00:00.000Z', event: 'service_started', domains: 2 }),
  fetchLine('2026-11-28T10:01:00.000Z', 'example.com', '209.85.128.5', 'Google-SMTP-STS', 'google', null, 200, 'aaa111'),
  fetchLine('2026-11-28T10:02:00.000Z', 'example.com', '104.47.1.2', '', 'microsoft', null, 200, 'aaa111'),
  'some line that is not JSON',
  fetchLine('2026-11-28T10:03:00.000Z', 'example.org', '104.47.1.3', '', 'microsoft', null, 200, 'bbb222'),
  fetchLine('2026-11-28T10:04:00.000Z', 'example.com', '203.0.113.7', 'Google-SMTP-STS', 'unknown', 'google', 200, 'aaa111'),
  fetchLine('2026-11-28T10:05:00.000Z', 'example.com', '104.47.1.2', '', 'microsoft', null, 200, 'ccc333'),
  fetchLine('2026-11-28T10:06:00.000Z', null, '198.51.100.1', 'curl/8', 'unknown', null, 404, null),
].join('\n');

/** `who` over a recorded log on stdin: its output, once it has exited 0. */
async function runWho(stdin: string, ...args: string[]): Promise<string> {
  const result = await cliInProcess(['who', ...args], { stdin });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

test('who: one plain line per fetch, then the per-provider summary, when stdout is not a terminal', async () => {
  assert.equal(
    await runWho(LOG),
    [
      '2026-11-28T10:01:00.000Z google example.com 209.85.128.5 GET 200 aaa111',
      '2026-11-28T10:02:00.000Z microsoft example.com 104.47.1.2 GET 200 aaa111',
      '2026-11-28T10:03:00.000Z microsoft example.org 104.47.1.3 GET 200 bbb222',
      '2026-11-28T10:04:00.000Z unknown (user agent claims google) example.com 203.0.113.7 GET 200 aaa111',
      '2026-11-28T10:05:00.000Z microsoft example.com 104.47.1.2 GET 200 ccc333',
      '2026-11-28T10:06:00.000Z unknown - 198.51.100.1 GET 404 -  (not counted)',
      '',
      'PROVIDER   FETCHES  ADDRESSES  LAST SEEN                 LAST POLICY ID  UA CONTRADICTED',
      'microsoft  3        2          2026-11-28T10:05:00.000Z  ccc333          0',
      'google     1        1          2026-11-28T10:01:00.000Z  aaa111          0',
      'unknown    1        1          2026-11-28T10:04:00.000Z  aaa111          1',
      '',
    ].join('\n'),
  );
});

test('who --domain keeps one domain; no fetches says so', async () => {
  assert.equal(
    await runWho(LOG, '--domain', 'Example.ORG'),
    [
      '2026-11-28T10:03:00.000Z microsoft example.org 104.47.1.3 GET 200 bbb222',
      '',
      'PROVIDER   FETCHES  ADDRESSES  LAST SEEN                 LAST POLICY ID  UA CONTRADICTED',
      'microsoft  1        1          2026-11-28T10:03:00.000Z  bbb222          0',
      '',
    ].join('\n'),
  );
  assert.equal(await runWho('not a log\n'), '\nno policy fetches seen yet\n');
});

test('who on a terminal: the table drawn in place, no per-fetch lines', async () => {
  const dir = await mkdtemp(`${tmpdir()}/mta-sts-who-`);
  await writeFile(`${dir}/log`, LOG);
  const { status, screen, stderr } = runOnTerminal(`${process.execPath} ${MAIN} who < ${dir}/log`);
  assert.equal(status, 0, stderr);
  assert.ok(screen.startsWith('\x1b[H\x1b[2JPROVIDER'), JSON.stringify(screen.slice(0, 40)));
  assert.doesNotMatch(screen, /209\.85\.128\.5/);
  assert.match(screen, /\nmicrosoft {2}3 {8}2 /);
});

const ptrLine = (time: string, domain: string, ip: string, ptr: string | null, provider: string, contradicted: boolean) =>
  JSON.stringify({
    level: 'info',
    time,
    event: 'policy_fetch_ptr',
    domain,
    ip,
    ptr,
    ptr_confirmed: ptr !== null,
    ptr_provider: provider === 'unknown' ? null : provider,
    provider,
    contradicted,
  });

test('who: a fetch left unknown moves to the provider its reverse DNS line names, as stats counts it', async () => {
  const log = [
    fetchLine('2026-11-28T10:07:00.000Z', 'example.com', '192.0.2.10', '', 'unknown', null, 200, 'aaa111'),
    fetchLine('2026-11-28T10:07:05.000Z', 'example.com', '192.0.2.10', '', 'unknown', null, 200, 'aaa111'),
    ptrLine('2026-11-28T10:07:00.400Z', 'example.com', '192.0.2.10', 'mx0a-00191d01.pphosted.com', 'proofpoint', false),
    ptrLine('2026-11-28T10:07:05.001Z', 'example.com', '192.0.2.10', 'mx0a-00191d01.pphosted.com', 'proofpoint', false),
    // A spoofed user agent stays unknown and contradicted; a fetch already attributed is not moved.
    fetchLine('2026-11-28T10:08:00.000Z', 'example.com', '203.0.113.7', 'Google-SMTP-STS', 'unknown', 'google', 200, 'aaa111'),
    ptrLine('2026-11-28T10:08:00.200Z', 'example.com', '203.0.113.7', 'vps7.hosting.example', 'unknown', true),
    fetchLine('2026-11-28T10:09:00.000Z', 'example.com', '209.85.128.5', 'Google-SMTP-STS', 'google', null, 200, 'aaa111'),
    ptrLine('2026-11-28T10:09:00.100Z', 'example.com', '209.85.128.5', 'mail-ua1-f45.google.com', 'google', false),
    // Two minutes on, a reverse DNS line cannot be about this fetch any more.
    fetchLine('2026-11-28T10:10:00.000Z', 'example.com', '192.0.2.99', '', 'unknown', null, 200, 'aaa111'),
    ptrLine('2026-11-28T10:12:00.000Z', 'example.com', '192.0.2.99', 'mx0b-00191d01.pphosted.com', 'proofpoint', false),
  ].join('\n');
  assert.equal(
    await runWho(log),
    [
      '2026-11-28T10:07:00.000Z unknown example.com 192.0.2.10 GET 200 aaa111',
      '2026-11-28T10:07:05.000Z unknown example.com 192.0.2.10 GET 200 aaa111',
      '2026-11-28T10:07:00.400Z proofpoint by reverse DNS mx0a-00191d01.pphosted.com: the fetch of 2026-11-28T10:07:00.000Z from 192.0.2.10',
      '2026-11-28T10:07:05.001Z proofpoint by reverse DNS mx0a-00191d01.pphosted.com: the fetch of 2026-11-28T10:07:05.000Z from 192.0.2.10',
      '2026-11-28T10:08:00.000Z unknown (user agent claims google) example.com 203.0.113.7 GET 200 aaa111',
      '2026-11-28T10:09:00.000Z google example.com 209.85.128.5 GET 200 aaa111',
      '2026-11-28T10:10:00.000Z unknown example.com 192.0.2.99 GET 200 aaa111',
      '',
      'PROVIDER    FETCHES  ADDRESSES  LAST SEEN                 LAST POLICY ID  UA CONTRADICTED',
      'proofpoint  2        1          2026-11-28T10:07:05.000Z  aaa111          0',
      'unknown     2        2          2026-11-28T10:10:00.000Z  aaa111          1',
      'google      1        1          2026-11-28T10:09:00.000Z  aaa111          0',
      '',
    ].join('\n'),
  );
});

/**
 * One request for the policy path, SNI and Host naming `host`; the status it got. The certificate
 * is not checked: a host that is not ours gets the listener's neutral one, which no CA vouches
 * for, and what is tested here is what gets counted.
 */
function requestPolicy(port: number, method: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: '/.well-known/mta-sts.txt',
        servername: host,
        headers: { host },
        agent: false,
        rejectUnauthorized: false,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode!));
      },
    )
      .on('error', reject)
      .end();
  });
}

test('who counts what stats counts, from the real service: GET answered with a policy, not HEAD, 404 or 405', async () => {
  const { configPath } = await writeTestConfig(`domains:\n  example.com: { mode: none }\n${LOOPBACK_LISTEN}`);
  const served = serveProcess(configPath);
  try {
    const started = await served.waitForEvent('service_started');
    const port = (started.https as { port: number }).port;
    const requests: [method: string, host: string, status: number][] = [
      ['GET', 'mta-sts.example.com', 200],
      ['HEAD', 'mta-sts.example.com', 200],
      ['GET', 'mta-sts.other.example', 404],
      ['POST', 'mta-sts.example.com', 405],
      ['GET', 'mta-sts.example.com', 200],
    ];
    for (const [method, host, status] of requests)
      assert.equal(await requestPolicy(port, method, host), status, `${method} ${host}`);
    await served.waitFor(
      'five policy_fetch lines',
      () => served.lines.filter((line) => line.event === 'policy_fetch').length === 5,
      5_000,
    );
    // A clean stop writes the statistics' last batch.
    served.child.kill('SIGTERM');
    assert.equal((await served.exited).code, 0);
  } finally {
    await served.kill();
  }

  const log = served.lines.map((line) => JSON.stringify(line)).join('\n');
  const plain = (await runWho(log)).split('\n');
  const requestLines = plain.filter((line) => / 127\.0\.0\.1 /.test(line));
  assert.deepEqual(
    requestLines.map((line) => line.replace(/^\S+ /, '').replace(/ [0-9a-f]{24}\b/, ' ID')),
    [
      'unknown example.com 127.0.0.1 GET 200 ID',
      'unknown example.com 127.0.0.1 HEAD 200 ID  (not counted)',
      'unknown - 127.0.0.1 GET 404 -  (not counted)',
      'unknown example.com 127.0.0.1 POST 405 -  (not counted)',
      'unknown example.com 127.0.0.1 GET 200 ID',
    ],
  );
  const whoRow = plain.find((line) => line.startsWith('unknown '))!.split(/ +/);
  assert.equal(whoRow[1], '2', plain.join('\n'));

  const stats = await cliInProcess(['stats', '--config', configPath, '--json']);
  assert.equal(stats.code, 0, stats.stderr);
  const [domain] = (
    JSON.parse(stats.stdout) as { domains: { fetches: number; providers: { provider: string; fetches: number }[] }[] }
  ).domains;
  assert.deepEqual(
    domain!.providers.map((row) => [row.provider, row.fetches]),
    [['unknown', 2]],
  );
});
