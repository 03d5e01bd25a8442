import { readFile } from 'node:fs/promises';
import type { CertificateIssuer, IssuedCertificate } from '../../src/tls/acme/issuer.js';
import { AcmeMaintenance, type MaintenanceTiming } from '../../src/tls/acme/maintenance.js';
import type { LiveCertificate } from '../../src/tls/certificate.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { createLogger } from '../../src/log/logger.js';
import { issueTestCertificate } from './certificates.js';
import { LogCapture, writeTestConfig } from './service.js';

export const DAY = 86_400_000;

/** Answers orders the way a CA would in cases pebble cannot produce on demand (rate limits with Retry-After, slow orders). */
export class ScriptedIssuer implements CertificateIssuer {
  readonly caId = 'ca.test';
  /** When each order was placed, on the maintenance's clock. */
  readonly orderedAt: number[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(
    /** The answer to the order with this number (1 for the first). */
    private readonly answer: (order: number) => Promise<IssuedCertificate>,
    private readonly now: () => number = Date.now,
  ) {}

  get orders(): number {
    return this.orderedAt.length;
  }

  issue(): Promise<IssuedCertificate> {
    this.orderedAt.push(this.now());
    this.waiters = this.waiters.filter((waiter) => !(waiter.count <= this.orders && (waiter.resolve(), true)));
    return this.answer(this.orders);
  }

  /** Resolves once `count` orders have been placed; rejects after `timeoutMs`. */
  waitForOrders(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.orders >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.orders} orders within ${timeoutMs} ms, not ${count}`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}

/**
 * An AcmeMaintenance with a scripted issuer over file storage in `dir` (a new folder unless given:
 * give the folder of an earlier one to restart over its storage).
 */
export async function setupMaintenance(
  answer: (order: number) => Promise<IssuedCertificate>,
  timing: Partial<MaintenanceTiming> = {},
  dir?: string,
  /** What the maintenance sees of the storage: tests wrap it to watch its locks. */
  view: (storage: Storage) => Storage = (storage) => storage,
) {
  const storageDir = dir ?? (await writeTestConfig('')).dir;
  // The shortest lease: a test that breaks a lock sees the holder notice within a second.
  const storage = new FileStorage(storageDir, { leaseMs: 2_000 });
  const log = new LogCapture();
  const published: LiveCertificate[][] = [];
  const fullTiming: MaintenanceTiming = {
    checkIntervalMs: 60_000,
    minRetryMs: 60_000,
    maxRetryMs: DAY,
    renewWhenRemaining: 1 / 3,
    now: Date.now,
    ...timing,
  };
  const issuer = new ScriptedIssuer(answer, fullTiming.now);
  const maintenance = new AcmeMaintenance(
    issuer,
    view(storage),
    (certificates) => published.push(certificates),
    createLogger('info', log),
    fullTiming,
  );
  return { dir: storageDir, storage, log, issuer, maintenance, published };
}

/** A certificate for `host` from a fresh local CA, as an issuer returns it. */
export async function certificateFor(dir: string, host: string): Promise<IssuedCertificate> {
  const issued = await issueTestCertificate(`${dir}/ca-${Math.random()}`, [host]);
  return { chainPem: await readFile(issued.certPath, 'utf8'), keyPem: await readFile(issued.keyPath, 'utf8') };
}
