import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import type { Storage } from './storage.js';

/** A lock older than this is taken to belong to a process that died while holding it. */
const STALE_LOCK_MS = 10 * 60_000;
const LOCK_POLL_MS = 250;

/** Storage in a folder (the state directory). Keys are relative paths with `/` separators. */
export class FileStorage implements Storage {
  constructor(private readonly root: string) {}

  private pathOf(key: string): string {
    const path = normalize(join(this.root, ...key.split('/')));
    if (!path.startsWith(this.root + sep)) throw new Error(`storage key ${JSON.stringify(key)} leaves the state directory`);
    return path;
  }

  async load(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  store(key: string, value: string | Uint8Array, { secret = false } = {}): Promise<void> {
    return writeFileAtomic(this.pathOf(key), value, secret ? 0o600 : 0o644);
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { recursive: true, force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const entries = await readdir(this.pathOf(prefix)).catch(() => [] as string[]);
    return entries.filter((name) => !name.startsWith('.')).map((name) => `${prefix}/${name}`);
  }

  /**
   * A lock file created exclusively (O_EXCL), so that it also works between processes sharing
   * the state directory. One left behind by a crash is broken once it is stale.
   */
  async lock(name: string): Promise<() => Promise<void>> {
    const path = this.pathOf(`locks/${name}.lock`);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    for (;;) {
      try {
        const handle = await open(path, 'wx', 0o600);
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return () => rm(path, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const held = await stat(path).catch(() => undefined);
        if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) await rm(path, { force: true });
        else await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
      }
    }
  }
}
