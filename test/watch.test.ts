import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUSY_FOLDER, watchFiles } from '../src/files/watch.js';

// The folder watch behind config and certificate reloads (src/files/watch.ts): which events in
// the folder lead to a re-read before the next poll.

const DEBOUNCE_MS = 20;
/** Far longer than any test here waits: a call within the test came from an event. */
const POLL_MS = 60_000;
/** Time for an event to arrive and its debounce to pass. */
const SETTLE_MS = 400;

async function watchedFolder(t: TestContext): Promise<{ folder: string; calls: () => number }> {
  const folder = await mkdtemp(join(tmpdir(), 'mta-sts-watch-'));
  await writeFile(join(folder, 'mta-sts.yaml'), 'domains: {}\n');
  let calls = 0;
  const watch = watchFiles([join(folder, 'mta-sts.yaml')], () => calls++, { debounceMs: DEBOUNCE_MS, pollMs: POLL_MS });
  t.after(async () => {
    watch.close();
    await rm(folder, { recursive: true, force: true });
  });
  return { folder, calls: () => calls };
}

test('writing the watched file is seen at once; writing another file in its folder (a log, a database) is not', async (t) => {
  const { folder, calls } = await watchedFolder(t);
  for (let line = 0; line < 20; line++) await writeFile(join(folder, 'service.log'), `line ${line}\n`, { flag: 'a' });
  await writeFile(join(folder, 'state.sqlite-wal'), 'x');
  await sleep(SETTLE_MS);
  assert.equal(calls(), 0);

  await writeFile(join(folder, 'mta-sts.yaml'), 'domains: { example.com: {} }\n');
  await sleep(SETTLE_MS);
  assert.equal(calls(), 1);
});

test("an editor's save by renaming a temporary file onto the watched one is seen", async (t) => {
  const { folder, calls } = await watchedFolder(t);
  await writeFile(join(folder, '.mta-sts.yaml.swp'), 'domains: { example.org: {} }\n');
  await rename(join(folder, '.mta-sts.yaml.swp'), join(folder, 'mta-sts.yaml'));
  await sleep(SETTLE_MS);
  assert.equal(calls(), 1);
});

test('a Kubernetes ConfigMap update (its ..data symlink swapped to a new folder) is seen', async (t) => {
  const { folder, calls } = await watchedFolder(t);
  const version = join(folder, '..2026_12_03_09_00_00.000000001');
  await mkdir(version);
  await writeFile(join(version, 'mta-sts.yaml'), 'domains: { example.net: {} }\n');
  await symlink(version, join(folder, '..data_tmp'));
  await rename(join(folder, '..data_tmp'), join(folder, '..data'));
  await sleep(SETTLE_MS);
  assert.equal(calls(), 1);
});

test('a folder busy with other files is left to the poll: its watch stops waking the service, the poll still sees the file change', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'mta-sts-watch-'));
  await writeFile(join(folder, 'mta-sts.yaml'), 'domains: {}\n');
  let calls = 0;
  const pollMs = 4_000;
  const watch = watchFiles([join(folder, 'mta-sts.yaml')], () => calls++, { debounceMs: DEBOUNCE_MS, pollMs });
  t.after(async () => {
    watch.close();
    await rm(folder, { recursive: true, force: true });
  });
  // A log next to the config: more lines than BUSY_FOLDER allows in its window.
  for (let line = 0; line <= BUSY_FOLDER.otherChanges + 20; line++) {
    await writeFile(join(folder, 'service.log'), `line ${line}\n`, { flag: 'a' });
  }
  await sleep(SETTLE_MS);
  const started = Date.now();
  await writeFile(join(folder, 'mta-sts.yaml'), 'domains: { example.com: {} }\n');
  await sleep(SETTLE_MS);
  assert.equal(calls, 0, 'the change is not seen through the watch');
  while (calls === 0) await sleep(20);
  assert.ok(Date.now() - started < pollMs + SETTLE_MS, 'the poll sees it');
});
