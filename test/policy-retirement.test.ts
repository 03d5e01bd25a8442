import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { printDnsRecords } from '../src/cli/dns.js';
import { printStats } from '../src/cli/stats.js';
import { RETIREMENT_MAX_AGE, SERVED_RECORD_INTERVAL_MS } from '../src/policy/retirement.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { TextSink } from './support/cli.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { LOOPBACK_LISTEN, startTestService, startTestServiceAt, writeTestConfig, type TestService } from './support/service.js';

// RFC 8461 §8.3 through the real service: a removed domain is served as mode none until the
// longest max_age it was served with has passed since it last served that policy, across
// restarts, and is then dropped. The clock is the test's; the lifecycle looks at it every 20 ms.

const WEEK_S = 604_800;
const configOf = (domains: string, extra = '') => `domains:\n${domains}\n${extra}${LOOPBACK_LISTEN}`;
const COM = '  example.com: { mode: enforce, mx: [mail.example.com] }';
const ORG = `  example.org: { mode: testing, mx: [mail.example.org], max_age: ${WEEK_S} }`;
const NONE_BODY = `version: STSv1\r\nmode: none\r\nmax_age: ${RETIREMENT_MAX_AGE}\r\n`;

/** A clock the test moves; starts at a fixed instant. */
function testClock() {
  const clock = { now: Date.parse('2026-12-01T10:00:00Z') };
  return { clock, lifecycleTiming: { now: () => clock.now, intervalMs: 20 } };
}

async function fetchOrg(running: TestService) {
  const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
  return fetchPolicy({ port: running.httpsPort, host: 'mta-sts.example.org', ca });
}

test('a removed domain is retired: mode none with a new id until its max_age has passed, across a restart; then dropped', async () => {
  const { clock, lifecycleTiming } = testClock();
  let running = await startTestService(configOf(`${COM}\n${ORG}`), { lifecycleTiming });
  const servedUntil = clock.now + 3_600_000;
  clock.now = servedUntil;
  await writeFile(running.configPath, configOf(COM));
  await running.service.reload();

  const until = new Date(servedUntil + SERVED_RECORD_INTERVAL_MS + WEEK_S * 1000).toISOString();
  const retiredId = running.service.currentPolicies.forHost('mta-sts.example.org')!.id;
  const retired = running.log.events('domain_retired');
  assert.deepEqual(retired, [
    {
      ...retired[0],
      event: 'domain_retired',
      domain: 'example.org',
      policy_id: retiredId,
      until,
      publish: `_mta-sts.example.org.                    3600 IN TXT   "v=STSv1; id=${retiredId}"`,
    },
  ]);
  assert.deepEqual(await fetchOrg(running), { status: 200, body: NONE_BODY });
  // The reload's own line names the new TXT record to publish.
  const [reloaded] = running.log.events('config_reloaded');
  assert.deepEqual(reloaded!.domains_removed, []);
  assert.ok((reloaded!.publish as string[]).some((line) => line.includes(retiredId)));

  // A restart reads the history: still retired, with the same end.
  await running.service.stop();
  running = await startTestServiceAt(running.dir, running.configPath, { lifecycleTiming });
  try {
    assert.equal(running.log.events('domain_retired')[0]!.until, until);
    assert.deepEqual(await fetchOrg(running), { status: 200, body: NONE_BODY });

    clock.now = Date.parse(until) - 1;
    await running.service.reload();
    assert.equal((await fetchOrg(running)).status, 200);
    clock.now = Date.parse(until);
    await running.log.waitFor((line) => line.event === 'domain_dropped');
    await running.service.reload();
    assert.deepEqual(
      running.log.events('domain_dropped').map((line) => line.domain),
      ['example.org'],
    );
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.org'), undefined);
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.com')?.policy.mode, 'enforce');
  } finally {
    await running.service.stop();
  }
});

test('retire_removed_domains: false drops a removed domain at once', async () => {
  const { lifecycleTiming } = testClock();
  const running = await startTestService(configOf(`${COM}\n${ORG}`, 'retire_removed_domains: false\n'), { lifecycleTiming });
  try {
    await writeFile(running.configPath, configOf(COM, 'retire_removed_domains: false\n'));
    await running.service.reload();
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.org'), undefined);
    assert.deepEqual(running.log.events('domain_retired'), []);
    assert.deepEqual(running.log.events('config_reloaded')[0]!.domains_removed, ['example.org']);
  } finally {
    await running.service.stop();
  }
});

test('a domain that only ever served mode none is dropped at once: no sender holds a policy to retire', async () => {
  const { lifecycleTiming } = testClock();
  const running = await startTestService(configOf(`${COM}\n  example.org: { mode: none }`), { lifecycleTiming });
  try {
    await writeFile(running.configPath, configOf(COM));
    await running.service.reload();
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.org'), undefined);
    assert.deepEqual(running.log.events('domain_retired'), []);
  } finally {
    await running.service.stop();
  }
});

test('a domain put back during its retirement serves its configured policy again', async () => {
  const { lifecycleTiming } = testClock();
  const running = await startTestService(configOf(`${COM}\n${ORG}`), { lifecycleTiming });
  try {
    await writeFile(running.configPath, configOf(COM));
    await running.service.reload();
    await writeFile(running.configPath, configOf(`${COM}\n${ORG}`));
    await running.service.reload();
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.org')?.policy.mode, 'testing');
    assert.deepEqual(running.log.events('domain_dropped'), []);
  } finally {
    await running.service.stop();
  }
});

test('a damaged policy history is reported, and the service starts and serves', async () => {
  const { lifecycleTiming } = testClock();
  const first = await startTestService(configOf(`${COM}\n${ORG}`), { lifecycleTiming });
  await first.service.stop();
  const database = new Database(stateDatabasePath(join(first.dir, 'state')));
  database.prepare("UPDATE policy_history SET mode = 'strict' WHERE domain = 'example.org'").run();
  database.close();
  await writeFile(first.configPath, configOf(COM));
  const running = await startTestServiceAt(first.dir, first.configPath, { lifecycleTiming });
  try {
    const errors = running.log.events('policy_history_error').map((line) => line.error as string);
    assert.deepEqual(errors, [
      'policy_history in mta-sts.db, domain "example.org" position 0: mode: "strict" is not one of enforce, testing, none; that domain\'s history is ignored',
    ]);
    // Its history unreadable, example.org cannot be retired: it is not served.
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.org'), undefined);
    assert.equal(running.service.currentPolicies.forHost('mta-sts.example.com')?.policy.mode, 'enforce');
  } finally {
    await running.service.stop();
  }
});

test('after an upgrade, a domain removed while the older version served it is retired from the history files it left', async () => {
  const { clock, lifecycleTiming } = testClock();
  const { dir, configPath } = await writeTestConfig(configOf(COM));
  const historyDir = join(dir, 'state', 'policy-history');
  await mkdir(historyDir, { recursive: true });
  // As the older version wrote it (one JSON file per domain): example.org served in testing until an hour ago.
  const lastServed = new Date(clock.now - 3_600_000).toISOString();
  const orgFile =
    '{\n "domain": "example.org",\n "policies": [\n  {\n   "id": "20261101000000",\n   "mode": "testing",\n' +
    `   "max_age": ${WEEK_S},\n   "body": "version: STSv1\\r\\nmode: testing\\r\\nmx: mail.example.org\\r\\nmax_age: ${WEEK_S}\\r\\n",\n` +
    `   "first_served": "2026-11-01T00:00:00.000Z",\n   "last_served": "${lastServed}"\n  }\n ]\n}\n`;
  await writeFile(join(historyDir, 'example.org.json'), orgFile);
  await writeFile(join(historyDir, 'example.net.json'), '{"domain": "example.net", "policies": [');
  const running = await startTestServiceAt(dir, configPath, { lifecycleTiming });
  try {
    const [imported] = running.log.events('policy_history_imported');
    assert.equal(imported?.histories, 1);
    assert.equal(imported.failed, 1);
    const errors = running.log.events('policy_history_error').map((line) => line.error as string);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^policy-history\/example\.net\.json: not JSON \(.+\); not imported, the file is left where it is$/);
    const [retired] = running.log.events('domain_retired');
    assert.equal(retired?.domain, 'example.org');
    assert.equal(retired.until, new Date(Date.parse(lastServed) + SERVED_RECORD_INTERVAL_MS + WEEK_S * 1000).toISOString());
    assert.deepEqual(await fetchOrg(running), { status: 200, body: NONE_BODY });
    assert.equal(await readFile(join(historyDir, 'example.org.json'), 'utf8'), orgFile);
  } finally {
    await running.service.stop();
  }
});

test('dns: a retired domain with its new TXT record and the date its records can go; mode none set by hand gets a safe-to-delete date', async () => {
  const { clock, lifecycleTiming } = testClock();
  const com = (mode: string) => `  example.com: { mode: ${mode}, mx: [mail.example.com], max_age: 86400 }`;
  const running = await startTestService(configOf(`${com('enforce')}\n${ORG}`), { lifecycleTiming });
  clock.now += 3_600_000;
  const lastEnforced = clock.now;
  await writeFile(running.configPath, configOf(com('none')));
  await running.service.reload();
  const retiredId = running.service.currentPolicies.forHost('mta-sts.example.org')!.id;
  const noneId = running.service.currentPolicies.forHost('mta-sts.example.com')!.id;
  await running.service.stop();

  const orgUntil = new Date(lastEnforced + SERVED_RECORD_INTERVAL_MS + WEEK_S * 1000);
  const comUntil = new Date(lastEnforced + SERVED_RECORD_INTERVAL_MS + 86_400_000);
  const dns = async (json: boolean, now: number) => {
    const out = new TextSink();
    const err = new TextSink();
    const code = await printDnsRecords(running.configPath, { target: {}, json, now: new Date(now) }, out, err);
    return { code, out: out.text, err: err.text };
  };

  const text = await dns(false, clock.now);
  assert.equal(text.code, 0);
  assert.equal(text.err, '');
  assert.match(
    text.out,
    /; example\.com: mode none, policy id (\w+)\n(?:.*\n)*?; safe to delete after 2026-12-02 12:00 UTC, when the last testing or enforce policy leaves senders' caches\n/,
  );
  assert.ok(
    text.out.includes(`; example.org: removed from the config, retiring (RFC 8461 §8.3): mode none, policy id ${retiredId}\n`),
  );
  assert.ok(text.out.includes(`"v=STSv1; id=${retiredId}"`));
  assert.ok(
    text.out.includes(
      '; served until 2026-12-08 12:00 UTC, then dropped; delete these records and the host mta-sts.example.org after that\n',
    ),
  );

  const json = JSON.parse((await dns(true, clock.now)).out) as { domains: Record<string, unknown>[] };
  assert.deepEqual(
    json.domains.map(({ domain, policy_id, mode, retired, delete_after }) => ({
      domain,
      policy_id,
      mode,
      retired,
      delete_after,
    })),
    [
      { domain: 'example.com', policy_id: noneId, mode: 'none', retired: false, delete_after: comUntil.toISOString() },
      { domain: 'example.org', policy_id: retiredId, mode: 'none', retired: true, delete_after: orgUntil.toISOString() },
    ],
  );

  const stats = { out: new TextSink(), err: new TextSink() };
  assert.equal(await printStats(running.configPath, { json: false, now: new Date(clock.now) }, stats.out, stats.err), 0);
  assert.ok(stats.out.text.includes('  example.com: mode none; delete its records after 2026-12-02 12:00 UTC\n'), stats.out.text);
  assert.ok(
    stats.out.text.includes(
      '  example.org: removed from the config, retiring: mode none; delete its records after 2026-12-08 12:00 UTC\n',
    ),
  );

  // After the end: the retired domain is gone from the list, the none domain can go now.
  const later = await dns(false, orgUntil.getTime());
  assert.ok(!later.out.includes('example.org'));
  assert.ok(
    later.out.includes("; safe to delete: the last testing or enforce policy left senders' caches on 2026-12-02 12:00 UTC\n"),
  );
});
