/**
 * Where certificates, keys and ACME accounts are kept, in the shape of Caddy certmagic's
 * Storage: keyed blobs plus a lock around each order. The file system is the default; a shared
 * database can implement the same interface so that several replicas share certificates, and
 * the lock keeps them from ordering the same certificate twice.
 */
export interface Storage {
  /** The value stored under `key`, or undefined when there is none. */
  load(key: string): Promise<Buffer | undefined>;
  /** Replaces the value atomically; `secret` values (private keys) are readable by the service alone. */
  store(key: string, value: string | Uint8Array, options?: { secret?: boolean }): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys directly below `prefix` (one level), for listing what is stored. */
  list(prefix: string): Promise<string[]>;
  /** Waits for, then holds, the named lock; the returned function releases it. */
  lock(name: string): Promise<() => Promise<void>>;
}
