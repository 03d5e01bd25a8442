import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, mock, test } from 'node:test';
import pino from 'pino';
import { parseConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { Lookup } from '../src/health/dns-lookup.js';
import { REFRESHED_RANGES_KEY, type RefreshFile } from '../src/fetches/provider-refresh.js';
import { ProviderRefresher } from '../src/fetches/provider-refresher.js';
import type { SpfDns } from '../src/fetches/spf-ranges.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { LogCapture } from './support/log-capture.js';
import { TESTMAIL_PROVIDER_LIST } from './support/provider-lists.js';

// The refresher's schedule under mocked timers: when the first refresh comes (from the stored
// refresh's date, else a delay spread over minutes), the jitter of the later ones, what a failed
// refresh or store keeps, and that a stopped refresher neither refreshes nor applies anything.
// The DNS path itself is tested against a real DNS server (spf-ranges, providers-refresh).

const HOUR = 3_600_000;
const NOW = new Date('2026-12-02T12:00:00Z');

const PROVIDERS = TESTMAIL_PROVIDER_LIST;

/** A stand-in resolver that counts the questions and can hold them until released. */
class CountingDns implements SpfDns {
  questions = 0;
  private hold: Promise<void> | undefined;
  private release: (() => void) | undefined;
  constructor(private readonly records: Map<string, string[]>) {}

  holdAnswers(): void {
    this.hold = new Promise((resolve) => (this.release = resolve));
  }

  releaseAnswers(): void {
    this.release?.();
  }

  async txt(name: string): Promise<Lookup<string>> {
    this.questions++;
    await this.hold;
    const values = this.records.get(name);
    return values ? { ok: true, values } : { ok: false, kind: 'absent', reason: `${name} has no TXT record` };
  }

  async mx(): Promise<Lookup<never>> {
    return { ok: false, kind: 'absent', reason: 'no MX' };
  }

  async addresses(): Promise<Lookup<string>> {
    return { ok: false, kind: 'absent', reason: 'no address' };
  }
}

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'refresher-'));
  await writeFile(join(dir, 'providers.yaml'), PROVIDERS);
  mock.timers.enable({ apis: ['setTimeout'] });
});

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

function configWith(providers: string): Config {
  const loaded = parseConfigText(
    `domains:\n  example.com: { mode: enforce, mx: [mail.example.com] }\nproviders: ${providers}\n`,
    'test.yaml',
  );
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  return loaded.config;
}

async function open(options: { providers?: string; records?: [string, string[]][]; storage?: FileStorage | null } = {}) {
  const capture = new LogCapture();
  const dns = new CountingDns(new Map(options.records ?? [['_spf.testmail.example', ['v=spf1 ip4:192.0.2.0/24 -all']]]));
  const storage = options.storage === null ? undefined : (options.storage ?? new FileStorage(join(dir, 'state')));
  const refresher = await ProviderRefresher.open(configWith(options.providers ?? '{ refresh: 1h }'), {
    log: pino({ level: 'debug' }, capture),
    storage,
    shipped: join(dir, 'providers.yaml'),
    dns,
    now: () => NOW,
  });
  return { refresher, dns, capture, storage };
}

/** Lets the refresh's file reads and writes (real I/O, not timers) run until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

/** Runs the timers up to `ms` from now and lets what they started finish. */
async function advance(ms: number): Promise<void> {
  mock.timers.tick(ms);
  for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** A state folder of its own holding a stored refresh (a refresher's own store may still be writing to another). */
async function storedRefresh(folder: string, providers: RefreshFile['providers']): Promise<FileStorage> {
  const storage = new FileStorage(join(dir, folder));
  await storage.store(REFRESHED_RANGES_KEY, JSON.stringify({ version: 1, providers }));
  return storage;
}

function entry(refreshedAt: string): RefreshFile['providers'][string] {
  return { refreshed_at: refreshedAt, records: ['_spf.testmail.example'], ranges: [], notes: [] };
}

const owner = (refresher: ProviderRefresher, ip: string) => refresher.classifier.classify(ip, '').provider;

test('with no stored refresh the first comes after the start delay: 1 minute plus a random part of 4', async () => {
  mock.method(Math, 'random', () => 0.5);
  const { refresher, dns, capture } = await open();
  refresher.start();
  await advance(60_000 + 0.5 * 240_000 - 1);
  assert.equal(dns.questions, 0);
  await advance(1);
  await until(() => capture.events('providers_refreshed').length === 1);
  assert.equal(owner(refresher, '192.0.2.9'), 'testmail', 'the refreshed ranges apply at once');
  refresher.stop();
});

test('later refreshes come at the interval with jitter: 0.9 × interval at the lowest draw, 1.1 × at the highest', async () => {
  for (const [draw, factor] of [
    [0, 0.9],
    [0.999999, 1.1],
  ] as const) {
    const { refresher, dns, capture } = await open({ storage: null });
    mock.method(Math, 'random', () => draw);
    refresher.start();
    await advance(60_000 + draw * 240_000);
    await until(() => capture.events('providers_refreshed').length === 1);
    const next = Math.floor(HOUR * (0.9 + 0.2 * draw));
    await advance(next - 1);
    assert.equal(dns.questions, 1, `draw ${draw}: no second refresh before ${factor} × the interval`);
    await advance(2);
    await until(() => capture.events('providers_refreshed').length === 2);
    refresher.stop();
    mock.restoreAll();
  }
});

test('a stored refresh sets the first one due at its latest date plus the interval; a stale one is refreshed after the start delay', async () => {
  const storage = await storedRefresh('fresh', {
    testmail: entry(new Date(NOW.getTime() - 40 * 60_000).toISOString()),
    other: entry(new Date(NOW.getTime() - 50 * 60_000).toISOString()),
  });
  const fresh = await open({ storage });
  fresh.refresher.start();
  await advance(20 * 60_000 - 1);
  assert.equal(fresh.dns.questions, 0, 'due 60 minutes after the latest refresh (40 minutes ago), not the older one');
  await advance(1);
  await until(() => fresh.capture.events('providers_refreshed').length === 1);
  fresh.refresher.stop();

  const stale = await open({
    storage: await storedRefresh('stale', { testmail: entry(new Date(NOW.getTime() - 2 * HOUR).toISOString()) }),
  });
  mock.method(Math, 'random', () => 0);
  stale.refresher.start();
  await advance(60_000 - 1);
  assert.equal(stale.dns.questions, 0, 'a stale refresh waits for the start delay, at least a minute');
  await advance(1);
  await until(() => stale.capture.events('providers_refreshed').length === 1);
  stale.refresher.stop();
});

test('nothing is scheduled when refresh is never or no provider names an SPF record', async () => {
  const never = await open({ providers: '{ refresh: never }' });
  never.refresher.start();
  await advance(400 * HOUR);
  assert.equal(never.dns.questions, 0);

  await writeFile(join(dir, 'providers.yaml'), PROVIDERS.replace(/ {4}spf: .*\n/, ''));
  const noSpf = await open();
  noSpf.refresher.start();
  await advance(400 * HOUR);
  assert.equal(noSpf.dns.questions, 0);
});

test('a refresh with a failed provider is a warning, a clean one is info; the stored file is what the next start reads', async () => {
  await writeFile(
    join(dir, 'providers.yaml'),
    `${PROVIDERS}  gone:\n    name: Gone\n    user_agents: []\n    ranges: []\n    spf: [_spf.gone.example]\n`,
  );
  const { refresher, capture, storage } = await open();
  await refresher.refresh();
  const [failed] = capture.events('providers_refreshed');
  assert.equal(failed!.level, 40);
  assert.deepEqual(failed!.failed, ['gone']);
  assert.match(String(failed!.msg), /1 of 2 providers failed/);
  const stored = JSON.parse((await storage!.load(REFRESHED_RANGES_KEY))!.toString('utf8')) as RefreshFile;
  assert.deepEqual(Object.keys(stored.providers), ['testmail']);
  assert.equal(stored.providers.testmail!.refreshed_at, NOW.toISOString());

  await writeFile(join(dir, 'providers.yaml'), PROVIDERS);
  const clean = await open();
  assert.equal(owner(clean.refresher, '192.0.2.9'), 'testmail', 'the stored ranges apply from the start');
  await clean.refresher.refresh();
  assert.equal(clean.capture.events('providers_refreshed')[0]!.level, 30);
});

test('a refresh that cannot be stored is still applied; provider files broken meanwhile keep the current list', async () => {
  const { refresher, capture } = await open();
  // A directory where the file goes: the store fails for root too.
  await mkdir(join(dir, 'state', REFRESHED_RANGES_KEY), { recursive: true });
  await refresher.refresh();
  assert.equal(capture.events('providers_refresh_store_error').length, 1);
  assert.match(String(capture.events('providers_refresh_store_error')[0]!.msg), /^cannot store the refreshed provider ranges: /);
  assert.equal(owner(refresher, '192.0.2.9'), 'testmail');

  await writeFile(join(dir, 'providers.yaml'), 'providers: [not, a, map]\n');
  await refresher.refresh();
  assert.equal(capture.events('providers_refresh_error').length, 1);
  assert.equal(capture.events('providers_refresh_error')[0]!.level, 50);
  assert.equal(owner(refresher, '192.0.2.9'), 'testmail', 'the list in effect stays');
});

test('stop: a refresh under way is neither applied nor stored, and no later one is scheduled', async () => {
  const { refresher, dns, capture, storage } = await open();
  dns.holdAnswers();
  mock.method(Math, 'random', () => 0);
  refresher.start();
  await advance(60_000);
  await until(() => dns.questions === 1);
  refresher.stop();
  dns.releaseAnswers();
  await advance(10 * HOUR);
  assert.equal(capture.events('providers_refreshed').length, 0);
  assert.equal(capture.events('providers_refresh_error').length, 0);
  assert.equal(await storage!.load(REFRESHED_RANGES_KEY), undefined);
  assert.equal(owner(refresher, '192.0.2.9'), 'unknown');
  assert.equal(dns.questions, 1);
});
