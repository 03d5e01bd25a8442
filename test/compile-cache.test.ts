import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, stat } from 'node:fs/promises';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compileCacheDirectory } from '../src/cli/compile-cache.js';
import { cliProcess } from './support/cli.js';

const EXAMPLE = fileURLToPath(new URL('../../config/example.yaml', import.meta.url));
/** Node 22.1+ has a compile cache; on Node 20 the CLI must run the same and leave no folder behind. */
const NODE_HAS_COMPILE_CACHE = 'enableCompileCache' in module;

/** Every file under a folder, by its path relative to it; none when the folder does not exist. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

async function home(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'mta-sts-home-'));
}

test('the compile cache folder is the user cache folder: $XDG_CACHE_HOME when absolute, else ~/.cache', () => {
  assert.equal(compileCacheDirectory({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/a' }), '/x/cache/mta-sts-server/compile-cache');
  assert.equal(
    compileCacheDirectory({ XDG_CACHE_HOME: 'cache', HOME: '/home/a' }),
    '/home/a/.cache/mta-sts-server/compile-cache',
  );
  assert.equal(compileCacheDirectory({ HOME: '/home/a' }), '/home/a/.cache/mta-sts-server/compile-cache');
  assert.equal(compileCacheDirectory({}), undefined);
});

test('check-config keeps its compiled code in a folder only the user can read (Node 22+), and none on Node 20', async () => {
  const dir = await home();
  const result = await cliProcess(['check-config', '--config', EXAMPLE], { env: { HOME: dir, XDG_CACHE_HOME: undefined } });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const folder = join(dir, '.cache', 'mta-sts-server', 'compile-cache');
  const files = await filesUnder(folder);
  if (!NODE_HAS_COMPILE_CACHE) {
    assert.deepEqual(await readdir(dir), []);
    return;
  }
  assert.ok(files.length > 0, 'no compiled code was kept');
  assert.equal((await stat(folder)).mode & 0o777, 0o700);
  for (const file of files) assert.equal((await stat(file)).mode & 0o077, 0, `${file} is readable by others`);
});

test('a cache folder that others may write to is not used', async () => {
  const dir = await home();
  const folder = join(dir, '.cache', 'mta-sts-server', 'compile-cache');
  await mkdir(folder, { recursive: true });
  await chmod(folder, 0o777);
  const result = await cliProcess(['check-config', '--config', EXAMPLE], { env: { HOME: dir, XDG_CACHE_HOME: undefined } });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await filesUnder(folder), []);
});

test('serve writes no compile cache', async () => {
  const dir = await home();
  // A start that fails at once has loaded the service's modules.
  const result = await cliProcess(['serve', '--config', join(dir, 'missing.yaml')], {
    env: { HOME: dir, XDG_CACHE_HOME: undefined },
  });
  assert.equal(result.code, 2, result.stderr);
  assert.deepEqual(await readdir(dir), []);
});
