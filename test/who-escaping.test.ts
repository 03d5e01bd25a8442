import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runOnTerminal } from './support/terminal.js';

// `who` reads logs that may come from anywhere: what it prints, it prints escaped.

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** CSI (C1, as the byte 0x9B a Latin-1 header carries), ESC, BEL and a bidi override: each would act on a terminal. */
const CSI = '\u009b';
const FORGED = [
  {
    level: 'info',
    time: '2026-11-28T10:00:00.000Z',
    event: 'policy_fetch',
    domain: `example.com${CSI}6n`,
    ip: '192.0.2.1\u001b]0;pwned\u0007',
    provider: 'unknown',
    provider_claimed: 'google\u202e',
    method: 'GET',
    status: 200,
    policy_id: `id${CSI}1A`,
  },
  {
    level: 'info',
    time: '2026-11-28T10:00:01.000Z',
    event: 'policy_fetch_ptr',
    domain: `example.com${CSI}6n`,
    ip: '192.0.2.1\u001b]0;pwned\u0007',
    ptr: `mx.pphosted.com${CSI}2K`,
    provider: `proofpoint${CSI}0m`,
    contradicted: true,
  },
  {
    level: 'info',
    time: `2026-11-28T10:00:02.000Z${CSI}2J`,
    event: 'policy_fetch',
    domain: null,
    ip: '192.0.2.2',
    provider: 'unknown',
    provider_claimed: null,
    method: `GET${CSI}5n`,
    status: 404,
    policy_id: null,
  },
]
  .map((line) => JSON.stringify(line))
  .join('\n');

/** Anything a terminal would act on, besides the line ends. */
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/;

test('who, piped: forged log fields come out escaped, never as controls', () => {
  const result = spawnSync(process.execPath, [MAIN, 'who'], { input: FORGED, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.doesNotMatch(result.stdout, TERMINAL_CONTROL, JSON.stringify(result.stdout));
  assert.deepEqual(result.stdout.split('\n').slice(0, 3), [
    '2026-11-28T10:00:00.000Z unknown (user agent claims google\\u202e) example.com\\u009b6n ' +
      '192.0.2.1\\u001b]0;pwned\\u0007 GET 200 id\\u009b1A',
    '2026-11-28T10:00:01.000Z proofpoint\\u009b0m by reverse DNS mx.pphosted.com\\u009b2K: the fetch of ' +
      '2026-11-28T10:00:00.000Z from 192.0.2.1\\u001b]0;pwned\\u0007',
    '2026-11-28T10:00:02.000Z\\u009b2J unknown - 192.0.2.2 GET\\u009b5n 404 -  (not counted)',
  ]);
  assert.match(result.stdout, /\nproofpoint\\u009b0m +1 +1 +2026-11-28T10:00:00\.000Z +id\\u009b1A +1\n/);
});

test('who on a terminal: the table it redraws holds no control from the log, only its own clear-screen', async () => {
  const dir = await mkdtemp(`${tmpdir()}/mta-sts-who-`);
  await writeFile(`${dir}/log`, FORGED);
  const { status, screen, stderr } = runOnTerminal(`${process.execPath} ${MAIN} who < ${dir}/log`);
  assert.equal(status, 0, stderr);
  assert.ok(screen.startsWith('\x1b[H\x1b[2JPROVIDER'), JSON.stringify(screen.slice(0, 40)));
  const drawn = screen.replaceAll('\x1b[H\x1b[2J', '');
  assert.doesNotMatch(drawn, TERMINAL_CONTROL, JSON.stringify(drawn));
  assert.match(drawn, /proofpoint\\u009b0m/);
});
