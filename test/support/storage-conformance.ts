import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockLostError, LockTimeoutError, type Storage } from '../../src/storage/storage.js';
import { endsWithThisProcess } from './children.js';

/** A lock held by another process using the same backend. */
export interface OtherProcessLock {
  release(): Promise<void>;
  /** Kills the process (SIGKILL) without releasing: a replica that died holding the lock. */
  kill(): Promise<void>;
}

/** A fresh, empty backend under test, as two replicas would use it. */
export interface StorageBackend {
  /** A client of the backend, as one replica opens it. Each call is another client of the same data. */
  open(): Storage;
  /** The lease its locks are opened with (short, for the tests). */
  leaseMs: number;
  /** Takes `name` in another process; resolves once that process holds it. */
  holdInAnotherProcess(name: string): Promise<OtherProcessLock>;
  /** Breaks the lock the way another process does once it finds the lease expired. */
  breakLock(name: string): Promise<void>;
  /** Whether a stored value is readable by the service's user alone. */
  isPrivate(key: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * What every Storage backend must do (the contract in src/storage/storage.ts): run by each
 * backend's test file with a factory that makes a fresh, empty backend.
 */
export function storageConformance(name: string, makeBackend: () => Promise<StorageBackend>): void {
  /** Runs `check` against a fresh backend and closes it afterwards. */
  const withBackend = (check: (backend: StorageBackend) => Promise<void>) => async () => {
    const backend = await makeBackend();
    try {
      await check(backend);
    } finally {
      await backend.close();
    }
  };

  describe(`${name} (Storage conformance)`, () => {
    test(
      'a stored value loads back byte for byte, a new store replaces it, and another client sees it',
      withBackend(async (backend) => {
        const storage = backend.open();
        const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
        await storage.store('certificates/ca/host/chain.pem', bytes);
        assert.deepEqual(await storage.load('certificates/ca/host/chain.pem'), Buffer.from(bytes));
        await storage.store('certificates/ca/host/chain.pem', 'second');
        assert.equal((await backend.open().load('certificates/ca/host/chain.pem'))?.toString(), 'second');
      }),
    );

    test(
      'a missing key loads as undefined; deleting it is not an error; delete removes a key and everything below a prefix',
      withBackend(async (backend) => {
        const storage = backend.open();
        assert.equal(await storage.load('acme/nothing/here.json'), undefined);
        await storage.delete('acme/nothing/here.json');
        await storage.store('a/b/c', '1');
        await storage.store('a/b/d', '2');
        await storage.store('a/e', '3');
        await storage.delete('a/e');
        assert.equal(await storage.load('a/e'), undefined);
        await storage.delete('a/b');
        assert.deepEqual(await storage.list('a', { recursive: true }), []);
      }),
    );

    test(
      'a concurrent reader sees the whole old value or the whole new one, never a torn one',
      withBackend(async (backend) => {
        const writer = backend.open();
        const reader = backend.open();
        // Large enough that a non-atomic write is seen half done.
        const values = ['a', 'b'].map((letter) => letter.repeat(1 << 20));
        await writer.store('torn/value', values[0]!);
        let writing = true;
        const writes = (async () => {
          for (let round = 1; round <= 40; round++) await writer.store('torn/value', values[round % 2]!);
          writing = false;
        })();
        let reads = 0;
        while (writing) {
          const text = (await reader.load('torn/value'))?.toString();
          assert.ok(text === values[0] || text === values[1], `read ${text?.length} characters starting ${text?.slice(0, 8)}`);
          reads++;
        }
        await writes;
        assert.ok(reads > 0);
      }),
    );

    test(
      'list: one level names values and prefixes; recursive names every value; both sorted, full keys, [] for nothing',
      withBackend(async (backend) => {
        const storage = backend.open();
        for (const key of ['list/b/x', 'list/b/y/z', 'list/a', 'list/c.pem', 'other/d']) await storage.store(key, key);
        assert.deepEqual(await storage.list('list'), ['list/a', 'list/b', 'list/c.pem']);
        assert.deepEqual(await storage.list('list', { recursive: true }), ['list/a', 'list/b/x', 'list/b/y/z', 'list/c.pem']);
        assert.deepEqual(await storage.list('list/b'), ['list/b/x', 'list/b/y']);
        assert.deepEqual(await storage.list('missing'), []);
        assert.deepEqual(await storage.list('missing', { recursive: true }), []);
      }),
    );

    test(
      'keys that are not /-separated plain names are refused by every call',
      withBackend(async (backend) => {
        const storage = backend.open();
        for (const key of ['', '../escape', 'a/../../b', '/absolute', 'a//b', 'a/', '.hidden', 'a/.tmp', 'space here', 'a\\b']) {
          await assert.rejects(storage.store(key, 'x'), /storage key/, `store ${JSON.stringify(key)}`);
          await assert.rejects(storage.load(key), /storage key/, `load ${JSON.stringify(key)}`);
          await assert.rejects(storage.delete(key), /storage key/, `delete ${JSON.stringify(key)}`);
          await assert.rejects(storage.list(key), /storage key/, `list ${JSON.stringify(key)}`);
          await assert.rejects(storage.lock(key, { timeoutMs: 0 }), /storage key/, `lock ${JSON.stringify(key)}`);
        }
      }),
    );

    test(
      'a secret value is readable by the service alone; others are not',
      withBackend(async (backend) => {
        const storage = backend.open();
        await storage.store('keys/key.pem', 'private', { secret: true });
        await storage.store('keys/chain.pem', 'public');
        assert.equal(await backend.isPrivate('keys/key.pem'), true);
        assert.equal(await backend.isPrivate('keys/chain.pem'), false);
        // Replacing keeps it secret: the new value is written secret from the start.
        await storage.store('keys/key.pem', 'private 2', { secret: true });
        assert.equal(await backend.isPrivate('keys/key.pem'), true);
      }),
    );

    test(
      'a lock has one holder at a time, across clients and across processes',
      withBackend(async (backend) => {
        const first = await backend.open().lock('order-ca-host');
        const second = backend.open();
        await assert.rejects(second.lock('order-ca-host', { timeoutMs: 300 }), LockTimeoutError);
        await first.release();
        const other = await backend.holdInAnotherProcess('order-ca-host');
        await assert.rejects(second.lock('order-ca-host', { timeoutMs: 300 }), LockTimeoutError);
        const waiting = second.lock('order-ca-host', { timeoutMs: 10_000 });
        await other.release();
        const taken = await waiting;
        await taken.release();
        await taken.release();
        // Another name is another lock; a name is a key, so it may have several segments.
        const held = await second.lock('order-ca-host');
        await (await second.lock('order-ca-other', { timeoutMs: 0 })).release();
        await (await second.lock('orders/ca/host', { timeoutMs: 0 })).release();
        await held.release();
      }),
    );

    test(
      'waiting for a lock ends at its timeout or when its signal aborts, with the reason given',
      withBackend(async (backend) => {
        const held = await backend.open().lock('busy');
        const storage = backend.open();
        await assert.rejects(storage.lock('busy', { timeoutMs: 200 }), (error: unknown) => {
          assert.ok(error instanceof LockTimeoutError);
          assert.match(error.message, /lock busy is still held/);
          return true;
        });
        const stop = new AbortController();
        const waiting = storage.lock('busy', { signal: stop.signal });
        const reason = new Error('service stopping');
        setImmediate(() => stop.abort(reason));
        await assert.rejects(waiting, (error: unknown) => error === reason);
        await assert.rejects(storage.lock('busy', { signal: AbortSignal.abort(reason) }), (error: unknown) => error === reason);
        await held.release();
      }),
    );

    test(
      'a holder that keeps working keeps its lock past the lease: the lease is refreshed',
      withBackend(async (backend) => {
        const held = await backend.open().lock('long-order');
        await assert.rejects(backend.open().lock('long-order', { timeoutMs: 2.5 * backend.leaseMs }), LockTimeoutError);
        assert.equal(held.lost.aborted, false);
        await held.release();
      }),
    );

    test(
      'the lock of a process that died is taken over once its lease expires, not before',
      withBackend(async (backend) => {
        const other = await backend.holdInAnotherProcess('order-ca-host');
        await other.kill();
        const storage = backend.open();
        await assert.rejects(storage.lock('order-ca-host', { timeoutMs: backend.leaseMs / 4 }), LockTimeoutError);
        const taken = await storage.lock('order-ca-host', { timeoutMs: 4 * backend.leaseMs });
        assert.equal(taken.lost.aborted, false);
        await taken.release();
      }),
    );

    test(
      'a holder learns that its lease was lost, and its release leaves the new holder alone',
      withBackend(async (backend) => {
        const old = await backend.open().lock('order-ca-host');
        await backend.breakLock('order-ca-host');
        const replica = backend.open();
        const now = await replica.lock('order-ca-host', { timeoutMs: 4 * backend.leaseMs });
        // The lease is checked at its refresh, within half a lease; the timer also keeps this process waiting for it.
        if (!old.lost.aborted) await Promise.race([once(old.lost, 'abort'), sleep(2 * backend.leaseMs)]);
        assert.ok(old.lost.reason instanceof LockLostError, String(old.lost.reason));
        assert.throws(() => old.lost.throwIfAborted(), LockLostError);
        await old.release();
        await assert.rejects(replica.lock('order-ca-host', { timeoutMs: 300 }), LockTimeoutError);
        await now.release();
      }),
    );
  });
}

/**
 * A lock holder run as `node <script> ...args`: the script prints "held" once it holds the lock,
 * releases it at a line on stdin, then prints "released" and exits.
 */
export async function spawnLockHolder(script: string, args: string[]): Promise<OtherProcessLock> {
  const child = endsWithThisProcess(spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }));
  let output = '';
  const exited = once(child, 'exit');
  const printed = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const look = () => {
        if (output.includes(`${word}\n`)) resolve();
      };
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => ((output += chunk), look()));
      void exited.then(() => (look(), reject(new Error(`the lock holder exited before printing ${word}: ${output}`))));
      look();
    });
  await printed('held');
  return {
    async release() {
      child.stdin.write('release\n');
      await printed('released');
      await exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
