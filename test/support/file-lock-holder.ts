import { FileStorage } from '../../src/storage/file-storage.js';

// Another process holding a FileStorage lock: node file-lock-holder.js <state dir> <lease ms> <lock name>.
// Prints "held" once it holds the lock; a line on stdin releases it, then it prints "released" and exits.
const [root, leaseMs, name] = process.argv.slice(2) as [string, string, string];
const lock = await new FileStorage(root, { leaseMs: Number(leaseMs) }).lock(name);
process.stdout.write('held\n');
process.stdin.once('data', () => {
  void lock.release().then(() => {
    process.stdout.write('released\n');
    process.exit(0);
  });
});
