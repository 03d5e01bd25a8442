import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStorage } from '../src/storage/file-storage.js';
import { spawnLockHolder, storageConformance } from './support/storage-conformance.js';

const LOCK_HOLDER = fileURLToPath(new URL('./support/file-lock-holder.js', import.meta.url));
/** The shortest lease proper-lockfile keeps (it refreshes at most every second). */
const LEASE_MS = 2_000;

storageConformance('FileStorage', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mta-sts-storage-'));
  return {
    open: () => new FileStorage(root, { leaseMs: LEASE_MS }),
    leaseMs: LEASE_MS,
    holdInAnotherProcess: (name) => spawnLockHolder(LOCK_HOLDER, [root, String(LEASE_MS), name]),
    // What proper-lockfile does with a lock folder whose mtime is older than the lease.
    breakLock: (name) => rm(join(root, 'locks', `${name}.lease`), { recursive: true }),
    isPrivate: async (key) => ((await stat(join(root, key))).mode & 0o077) === 0,
    close: () => rm(root, { recursive: true, force: true }),
  };
});
