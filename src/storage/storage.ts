/**
 * Where everything that replicas must share is kept: certificates and keys, the ACME account,
 * per-host order status, pending HTTP-01 challenge tokens and the self-signed CA. Modelled on
 * Caddy certmagic's Storage: keyed values plus named locks with leases. The state directory
 * (FileStorage) is the default; a shared database implements this interface, passes
 * test/support/storage-conformance.ts, and becomes one more case in storage/backends.ts.
 *
 * The contract, for a backend author:
 * - Keys are `/`-separated segments of letters, digits, `.`, `_` and `-`; no segment is empty,
 *   `.` or `..`, or starts with `.` (those names are the backend's own, e.g. temporary files).
 *   Every method rejects any other key with an error before touching the backend
 *   (assertStorageKey), so that keys behave alike on every backend.
 * - A key holds a value, or is a prefix of keys that do ("a folder"), never both.
 * - Every method is safe for concurrent use, by this process and by other processes (replicas)
 *   using the same backend at the same time.
 */
export interface Storage {
  /** The value stored under `key`; undefined when there is none (never an error for a missing key). */
  load(key: string): Promise<Buffer | undefined>;
  /**
   * Replaces the value under `key` atomically: a concurrent load sees the whole old value or the
   * whole new one, never a mix, and a crash leaves one of the two. `secret` values (private keys)
   * are readable by the service alone, from the moment they exist.
   */
  store(key: string, value: string | Uint8Array, options?: { secret?: boolean }): Promise<void>;
  /** Deletes the value under `key`, or every key below `key` when it is a prefix. A missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * The keys below `prefix`, as full keys (`prefix/name`), sorted by UTF-16 code unit; [] when
   * there are none. One level (the default): the names directly below it, values and prefixes
   * alike, as `ls` lists a folder. Recursive: every key below it that holds a value, at any depth.
   */
  list(prefix: string, options?: { recursive?: boolean }): Promise<string[]>;
  /**
   * Waits for, then holds, the lock `name` (a key), exclusive across every process using the
   * backend. The holder has a lease that the backend refreshes while the process is alive; a
   * lock whose holder died (no refresh for its lease) is taken over by the next waiter. Waiting
   * ends with LockTimeoutError after `timeoutMs`, or with the signal's reason when `signal`
   * aborts. The holder checks `lost` before acting on what it did under the lock (storing a
   * certificate it ordered): it aborts when the lease was lost (the process stalled longer than
   * the lease, or someone removed the lock), and another process may hold the lock since.
   * Like certmagic's Lock: whatever a previous holder did may already be done, so check again
   * after acquiring.
   */
  lock(name: string, options?: LockOptions): Promise<StorageLock>;
}

export interface LockOptions {
  /** Gives up waiting after this long (LockTimeoutError); DEFAULT_LOCK_TIMEOUT_MS when absent. */
  timeoutMs?: number;
  /** Gives up waiting when aborted (rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface StorageLock {
  /** Aborts, with a LockLostError as its reason, when the lease is lost while held. */
  readonly lost: AbortSignal;
  /** Releases the lock; a lock already lost is left to whoever holds it now. Releasing again does nothing. */
  release(): Promise<void>;
}

/** A lock waiter's patience by default: longer than an ACME order takes, so a replica waits for another's order. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;

export class LockTimeoutError extends Error {
  constructor(
    readonly lockName: string,
    timeoutMs: number,
  ) {
    super(`lock ${lockName} is still held by another process after ${Math.round(timeoutMs / 1000)} s`);
    this.name = 'LockTimeoutError';
  }
}

export class LockLostError extends Error {
  constructor(
    readonly lockName: string,
    why: string,
  ) {
    super(`lost the lock ${lockName}: ${why}`);
    this.name = 'LockLostError';
  }
}

const KEY_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws when `key` is not a storage key (see the contract above). */
export function assertStorageKey(key: string): void {
  if (key.length === 0 || key.length > 1024 || !key.split('/').every((segment) => KEY_SEGMENT.test(segment))) {
    throw new Error(
      `storage key ${JSON.stringify(key.slice(0, 100))} is not allowed: keys are /-separated names of letters, digits, ., _ and - that do not start with a dot`,
    );
  }
}
