import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { DomainHistory } from '../src/policy/retirement.js';
import { openBackends } from '../src/storage/backends.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { SqlitePolicyHistory } from '../src/storage/sqlite-policy-history.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import { policyHistoryConformance } from './support/policy-history-conformance.js';

const newStateDir = () => mkdtemp(join(tmpdir(), 'mta-sts-history-'));
const open = async (stateDir: string) => SqlitePolicyHistory.open(stateDir, new FileStorage(stateDir));

policyHistoryConformance('SQLite (the state database)', async () => {
  const stateDir = await newStateDir();
  return { store: (await open(stateDir)).store, reopen: async () => (await open(stateDir)).store };
});

const COM: DomainHistory = {
  domain: 'example.com',
  policies: [
    {
      id: '20261101000000',
      mode: 'testing',
      maxAge: 86_400,
      body: 'version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 86400\r\n',
      firstServed: Date.parse('2026-11-01T00:00:00.000Z'),
      lastServed: Date.parse('2026-11-20T10:00:00.123Z'),
    },
    {
      id: '20261120100000',
      mode: 'enforce',
      maxAge: 604_800,
      body: 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n',
      firstServed: Date.parse('2026-11-20T10:00:00.123Z'),
      lastServed: Date.parse('2026-12-01T09:00:00.000Z'),
    },
  ],
};
const ORG: DomainHistory = {
  domain: 'example.org',
  policies: [
    {
      id: 'a1',
      mode: 'none',
      maxAge: 0,
      body: 'version: STSv1\r\nmode: none\r\nmax_age: 0\r\n',
      firstServed: Date.parse('2026-11-30T00:00:00.000Z'),
      lastServed: Date.parse('2026-12-01T00:00:00.000Z'),
    },
  ],
};

/**
 * Writes `history` as versions before the state database did (StoragePolicyHistory.save): one
 * file per domain in state_dir/policy-history, the record's fields in snake case, times as ISO
 * text, JSON indented by one space. The format is frozen: these files are only ever read now.
 */
async function writeOldHistoryFile(stateDir: string, history: DomainHistory): Promise<void> {
  const stored = {
    domain: history.domain,
    policies: history.policies.map((record) => ({
      id: record.id,
      mode: record.mode,
      max_age: record.maxAge,
      body: record.body,
      first_served: new Date(record.firstServed).toISOString(),
      last_served: new Date(record.lastServed).toISOString(),
    })),
  };
  await mkdir(join(stateDir, 'policy-history'), { recursive: true });
  await writeFile(join(stateDir, 'policy-history', `${history.domain}.json`), `${JSON.stringify(stored, null, 1)}\n`);
}

/**
 * An older version's state_dir: two good history files, one whose time is not one, one cut short,
 * one holding another domain's history.
 */
async function oldStateDir(): Promise<string> {
  const stateDir = await newStateDir();
  await writeOldHistoryFile(stateDir, COM);
  await writeOldHistoryFile(stateDir, ORG);
  await writeOldHistoryFile(stateDir, { ...ORG, domain: 'example.biz' });
  const biz = join(stateDir, 'policy-history', 'example.biz.json');
  await writeFile(biz, (await readFile(biz, 'utf8')).replace('2026-12-01T00:00:00.000Z', 'yesterday'));
  await writeFile(join(stateDir, 'policy-history', 'example.net.json'), '{"domain": "example.net", "policies": [');
  await writeFile(join(stateDir, 'policy-history', 'example.info.json'), JSON.stringify({ domain: 'example.com', policies: [] }));
  return stateDir;
}

const byDomain = (histories: DomainHistory[]) => histories.sort((a, b) => a.domain.localeCompare(b.domain));

test('an upgrade imports the history files of an older version, names the damaged ones, and leaves every file where it was', async () => {
  const stateDir = await oldStateDir();
  const filesBefore = (await readdir(join(stateDir, 'policy-history'))).sort();
  const { store, imported } = await open(stateDir);
  assert.equal(imported?.histories, 2);
  assert.equal(imported.problems.length, 3);
  assert.equal(
    imported.problems[0],
    'policy-history/example.biz.json: policies.0.last_served: "yesterday" is not a UTC time such as 2026-12-01T10:00:00.000Z',
  );
  assert.equal(imported.problems[1], 'policy-history/example.info.json: holds another domain');
  assert.match(imported.problems[2]!, /^policy-history\/example\.net\.json: not JSON \(.+\)$/);
  assert.deepEqual(await store.loadAll(), { histories: byDomain([COM, ORG]), problems: [] });
  await store.close();
  assert.deepEqual((await readdir(join(stateDir, 'policy-history'))).sort(), filesBefore);
});

test('the files are imported once: a later open, and a file written after, leave the table as it is', async () => {
  const stateDir = await oldStateDir();
  const first = await open(stateDir);
  const changed: DomainHistory = {
    domain: 'example.org',
    policies: [{ ...ORG.policies[0]!, lastServed: Date.parse('2026-12-02T00:00:00Z') }],
  };
  await first.store.save(changed);
  await first.store.close();
  await writeOldHistoryFile(stateDir, { ...COM, domain: 'example.net' });

  const second = await open(stateDir);
  assert.equal(second.imported, undefined);
  assert.deepEqual(await second.store.loadAll(), { histories: byDomain([COM, changed]), problems: [] });
  await second.store.close();
});

test('a state_dir without history files imports nothing', async () => {
  const { store, imported } = await open(await newStateDir());
  assert.equal(imported, undefined);
  await store.close();
});

test('a damaged row is named with where it is and what is wrong, and only its domain is left out', async () => {
  const stateDir = await newStateDir();
  const { store } = await open(stateDir);
  await store.save(COM);
  await store.save(ORG);
  await store.close();
  // What someone's sqlite3 shell, or a damaged file, may leave behind.
  const damages: [string, unknown, RegExp][] = [
    ['mode', 'strict', /position 1: mode: "strict" is not one of enforce, testing, none; that domain's history is ignored$/],
    ['max_age', -1, /position 1: max_age: -1 is not a number of seconds;/],
    ['max_age', '86400 s', /position 1: max_age: "86400 s" is not a number of seconds;/],
    ['max_age', 1.5, /position 1: max_age: 1.5 is not a number of seconds;/],
    ['policy_id', 'not-an-id', /position 1: id: "not-an-id" is not a policy id \(1 to 32 letters and digits\);/],
    ['body', Buffer.from('mode: enforce'), /position 1: body: \{"type":"Buffer","data":\[.+ is not text;/],
    ['first_served', 'yesterday', /position 1: first_served: "yesterday" is not a time in milliseconds since 1970;/],
    ['last_served', 1.5, /position 1: last_served: 1\.5 is not a time in milliseconds since 1970;/],
    ['last_served', 1.5e300, /position 1: last_served: 1\.5e\+300 is not a time in milliseconds since 1970;/],
  ];
  for (const [column, value, message] of damages) {
    const database = new Database(stateDatabasePath(stateDir));
    database.prepare(`UPDATE policy_history SET ${column} = ? WHERE domain = 'example.com' AND position = 1`).run(value);
    database.close();
    const reader = (await open(stateDir)).store;
    const { histories, problems } = await reader.loadAll();
    await reader.close();
    assert.deepEqual(histories, [ORG], column);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^policy_history in mta-sts\.db, domain "example\.com" position 1: /);
    assert.match(problems[0]!, message);
    // The next save of the domain replaces the damaged rows.
    const writer = (await open(stateDir)).store;
    await writer.save(COM);
    await writer.close();
  }
});

test("commands read the older version's files until the service has opened the database, then the database, and never write", async () => {
  const stateDir = await oldStateDir();
  const backends = openBackends({ stateDir });
  const fromFiles = await backends.readPolicyHistory();
  assert.deepEqual(byDomain(fromFiles.histories), byDomain([COM, ORG]));
  assert.equal(fromFiles.problems.length, 3);
  assert.equal(fromFiles.problems[1], "policy-history/example.info.json: holds another domain; that domain's history is ignored");
  assert.match(fromFiles.problems[2]!, /^policy-history\/example\.net\.json: not JSON \(.+\); that domain's history is ignored$/);
  assert.equal(existsSync(stateDatabasePath(stateDir)), false, 'a command created the state database');

  // Statistics written, the history not yet: still the files.
  await (await SqliteFetchStatistics.open(stateDir)).close();
  assert.deepEqual(await backends.readPolicyHistory(), fromFiles);
  const database = new Database(stateDatabasePath(stateDir), { readonly: true });
  assert.equal(database.prepare("SELECT name FROM sqlite_master WHERE name = 'policy_history'").get(), undefined);
  database.close();

  const { store } = await backends.openPolicyHistory();
  const moved: DomainHistory = { ...COM, policies: COM.policies.slice(0, 1) };
  await store.save(moved);
  assert.deepEqual(await backends.readPolicyHistory(), { histories: byDomain([moved, ORG]), problems: [] });
  await store.close();
});
