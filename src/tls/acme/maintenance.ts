import type { Logger } from 'pino';
import { LockLostError, LockTimeoutError, type Storage, type StorageLock } from '../../storage/storage.js';
import { loadCertificate, type LiveCertificate } from '../certificate.js';
import { AcmeError, type CertificateIssuer } from './issuer.js';
import { parseHostStatus, renewalDue, storageKey, type HostStatus } from './host-state.js';

export interface MaintenanceTiming {
  /**
   * How often each host is looked at again, at most: a wake-up, never an order by itself (an
   * order waits for renewal to be due and for the retry time of the last failure).
   */
  checkIntervalMs: number;
  /** First retry delay after a failed order; doubled on each failure up to `maxRetryMs`. */
  minRetryMs: number;
  maxRetryMs: number;
  /** Renew once this fraction of the certificate's lifetime remains. */
  renewWhenRemaining: number;
  now: () => number;
}

export const DEFAULT_TIMING: Omit<MaintenanceTiming, 'renewWhenRemaining'> = {
  checkIntervalMs: 60 * 60_000,
  minRetryMs: 60_000,
  maxRetryMs: 24 * 60 * 60_000,
  now: Date.now,
};

/**
 * A retry time honoured at most this far ahead: a CA's rate limit lasts up to a week (Let's
 * Encrypt's duplicate-certificate limit), and a time written while the clock was wrong must not
 * stop renewals for longer.
 */
const MAX_RETRY_WAIT_MS = 7 * 24 * 60 * 60_000;

interface Managed {
  timer?: NodeJS.Timeout;
  inFlight?: Promise<void>;
  failures: number;
  /** Epoch ms before which no order is placed; undefined when the last order succeeded. */
  nextAttempt?: number;
  certificate?: LiveCertificate;
}

/**
 * Keeps a certificate for every managed host: loads what storage has, orders what is missing
 * or due for renewal, and retries failures with exponential backoff and jitter, or later when
 * the CA says so. The retry time and the failure count are stored, so that neither a restart, a
 * reload nor another replica orders before it. A working certificate is never dropped because a
 * renewal failed. At most one order per host is in flight, here and (through the storage lock)
 * across replicas sharing the storage.
 */
export class AcmeMaintenance {
  private readonly hosts = new Map<string, Managed>();
  /** Orders wait until the listeners are up: an HTTP-01 challenge is answered by the port-80 listener. */
  private ordering = false;
  /** Aborted by stop(): a look waiting for another replica's order lock gives up. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly issuer: CertificateIssuer,
    private readonly storage: Storage,
    private readonly publish: (certificates: LiveCertificate[]) => void,
    private readonly log: Logger,
    private readonly timing: MaintenanceTiming,
  ) {}

  /** Starts managing new hosts (stored certificates are loaded before this resolves) and stops renewing removed ones. */
  async setHosts(hosts: readonly string[]): Promise<void> {
    const wanted = new Set(hosts);
    for (const [host, managed] of this.hosts) {
      if (!wanted.has(host)) {
        clearTimeout(managed.timer);
        this.hosts.delete(host);
      }
    }
    const added = hosts.filter((host) => !this.hosts.has(host));
    for (const host of added) this.hosts.set(host, { failures: 0 });
    await Promise.all(added.map((host) => this.loadStored(host)));
    this.publishAll();
    if (this.ordering) for (const host of added) void this.check(host);
  }

  /** Called once the listeners accept connections: from now on missing and due certificates are ordered. */
  startOrdering(): void {
    this.ordering = true;
    for (const host of this.hosts.keys()) void this.check(host);
  }

  certificateOf(host: string): LiveCertificate | undefined {
    return this.hosts.get(host)?.certificate;
  }

  /** When the host is next ordered, if a failed order has put it off until later. */
  nextAttemptOf(host: string): Date | undefined {
    const nextAttempt = this.hosts.get(host)?.nextAttempt;
    return nextAttempt !== undefined && nextAttempt > this.timing.now() ? new Date(nextAttempt) : undefined;
  }

  /** Looks at one host now; resolves when any order it started has finished (tests and the CLI wait on it). */
  check(host: string): Promise<void> {
    const managed = this.hosts.get(host);
    if (!managed) return Promise.resolve();
    managed.inFlight ??= this.maintain(host, managed).then((nextLookMs) => {
      // Scheduled once this look is over, lock released: a wake-up during it would find it in flight and be lost.
      managed.inFlight = undefined;
      if (this.hosts.get(host) === managed) this.schedule(host, managed, nextLookMs);
    });
    return managed.inFlight;
  }

  stop(): void {
    for (const managed of this.hosts.values()) clearTimeout(managed.timer);
    this.hosts.clear();
    this.stopping.abort();
  }

  /** Orders a certificate for the host if it may now; resolves with the time until the next look. Never rejects. */
  private async maintain(host: string, managed: Managed): Promise<number> {
    const wait = this.waitBeforeOrder(managed);
    if (wait > 0) return wait;
    let lock: StorageLock | undefined;
    try {
      lock = await this.storage.lock(`order-${this.issuer.caId}-${host}`, { signal: this.stopping.signal });
      // Another replica may have renewed, or failed and put the host off, while this one waited for the lock.
      const before = managed.certificate;
      await this.loadStored(host);
      if (managed.certificate && managed.certificate !== before)
        this.loaded(host, managed.certificate, before !== undefined, true);
      const waitAfterLock = this.waitBeforeOrder(managed);
      if (waitAfterLock > 0) return waitAfterLock;
      const renewing = managed.certificate !== undefined;
      this.log.info(
        { event: 'certificate_order', host, reason: renewing ? 'renewal' : 'missing' },
        `ordering a certificate for ${host}`,
      );
      const issued = await this.issuer.issue(host);
      const certificate = loadCertificate(issued.chainPem, issued.keyPem, `acme:${host}`);
      lock.lost.throwIfAborted();
      await this.storage.store(this.keyOf(host, 'key.pem'), issued.keyPem, { secret: true });
      await this.storage.store(this.keyOf(host, 'chain.pem'), issued.chainPem);
      await this.storage.store(this.keyOf(host, 'status.json'), JSON.stringify({ host } satisfies HostStatus));
      managed.certificate = certificate;
      managed.failures = 0;
      managed.nextAttempt = undefined;
      this.loaded(host, certificate, renewing, false);
      return this.untilDue(certificate);
    } catch (error) {
      // Not failures of this host, so no backoff: another replica has been ordering for longer than a lock waits,
      // or took the lock over while this process stalled (and may be storing its own certificate). Look again soon.
      if (error instanceof LockLostError) {
        this.log.warn(
          { event: 'storage_lock_lost', host, detail: error.message },
          `order lock for ${host} lost; certificate not stored`,
        );
      }
      if (error instanceof LockTimeoutError || error instanceof LockLostError) return this.timing.minRetryMs;
      return await this.failed(host, managed, error);
    } finally {
      // A storage that cannot release is reported like any failure; it must not crash the service.
      await lock
        ?.release()
        .catch((error: Error) =>
          this.log.error({ event: 'storage_error', detail: error.message }, 'could not release an order lock'),
        );
    }
  }

  /** Serves a new certificate for the host and says so: one this process ordered, or one another replica stored. */
  private loaded(host: string, certificate: LiveCertificate, renewal: boolean, fromStorage: boolean): void {
    this.publishAll();
    const notAfter = certificate.notAfter.toISOString();
    this.log.info(
      {
        event: 'certificate_loaded',
        source: 'acme',
        host,
        issuer: certificate.issuer,
        serial: certificate.serialNumber,
        not_after: notAfter,
        renewal,
        from_storage: fromStorage,
      },
      fromStorage
        ? `certificate for ${host} taken from storage, where another replica put it; valid until ${notAfter}`
        : `certificate for ${host} obtained; valid until ${notAfter}`,
    );
  }

  /** Records and logs a failed order; resolves with the time until the next attempt. */
  private async failed(host: string, managed: Managed, error: unknown): Promise<number> {
    // Removed from the config, or the service stopping, while the order ran: a failure that
    // stopping caused must not put off the next start's order.
    if (this.hosts.get(host) !== managed) return 0;
    managed.failures++;
    const problem = error instanceof AcmeError ? error : new AcmeError((error as Error).message, undefined, undefined);
    const backoff = Math.min(this.timing.maxRetryMs, this.timing.minRetryMs * 2 ** (managed.failures - 1));
    // Jitter spreads retries of many hosts (and replicas) instead of hitting the CA at once.
    const jittered = Math.round(backoff * (0.75 + Math.random() * 0.5));
    // The CA's Retry-After (RFC 8555 §6.6) comes first, when it asks for longer than the backoff.
    const delay = Math.min(MAX_RETRY_WAIT_MS, Math.max(problem.retryAfterMs ?? 0, jittered));
    managed.nextAttempt = this.timing.now() + delay;
    const nextAttempt = new Date(managed.nextAttempt).toISOString();
    const status: HostStatus = {
      host,
      lastError: {
        at: new Date(this.timing.now()).toISOString(),
        message: problem.message,
        ...(problem.problem?.type && { type: problem.problem.type }),
      },
      nextAttempt,
      failures: managed.failures,
    };
    await this.storage.store(this.keyOf(host, 'status.json'), JSON.stringify(status)).catch(() => undefined);
    this.log.error(
      {
        event: 'certificate_error',
        source: 'acme',
        host,
        problem_type: problem.problem?.type ?? null,
        detail: problem.message,
        failures: managed.failures,
        next_attempt: nextAttempt,
        serving_previous: managed.certificate !== undefined,
      },
      `certificate order for ${host} failed; ${managed.certificate ? 'the current certificate stays in use; ' : ''}next attempt ${nextAttempt}`,
    );
    return delay;
  }

  /** How long the host must wait before an order (0 or less: it may order now): until renewal is due and the last failure's retry time. */
  private waitBeforeOrder(managed: Managed): number {
    const renewalIn = managed.certificate === undefined ? 0 : this.untilDue(managed.certificate);
    const retryIn = managed.nextAttempt === undefined ? 0 : managed.nextAttempt - this.timing.now();
    return Math.max(renewalIn, retryIn);
  }

  /**
   * The next look at the host: after `delayMs`, or sooner at the check interval. Waking early is
   * harmless (waitBeforeOrder decides against the clock again) and catches a clock that jumped or
   * a machine that slept; it also keeps every delay within what a timer can hold (24.8 days).
   */
  private schedule(host: string, managed: Managed, delayMs: number): void {
    clearTimeout(managed.timer);
    const wakeUp = Math.min(delayMs, this.timing.checkIntervalMs * (0.9 + Math.random() * 0.2));
    managed.timer = setTimeout(() => void this.check(host), Math.max(0, wakeUp));
    managed.timer.unref();
  }

  private untilDue(certificate: LiveCertificate): number {
    return renewalDue(certificate, this.timing.renewWhenRemaining) - this.timing.now();
  }

  /** The stored certificate and retry state of the host: what a restart, a reload or another replica left. */
  private async loadStored(host: string): Promise<void> {
    const managed = this.hosts.get(host);
    if (!managed) return;
    const [chain, key, statusText] = await Promise.all([
      this.storage.load(this.keyOf(host, 'chain.pem')),
      this.storage.load(this.keyOf(host, 'key.pem')),
      this.storage.load(this.keyOf(host, 'status.json')),
    ]);
    if (statusText) this.resumeRetries(managed, parseHostStatus(statusText.toString()));
    if (!chain || !key) return;
    try {
      const stored = loadCertificate(chain.toString(), key.toString(), `acme:${host}`);
      if (managed.certificate && stored.serialNumber !== managed.certificate.serialNumber) {
        // Another replica renewed it: an order succeeded, so the failures before it no longer count.
        managed.failures = 0;
        managed.nextAttempt = undefined;
      }
      if (!managed.certificate || stored.serialNumber !== managed.certificate.serialNumber) managed.certificate = stored;
    } catch (error) {
      this.log.error(
        { event: 'certificate_error', source: 'acme', host, detail: (error as Error).message },
        `stored certificate for ${host} is unusable; ordering a new one`,
      );
    }
  }

  /**
   * Takes over the stored failure count and retry time. The later of what is stored and what
   * this process knows wins: a status that could not be written must not make an order early.
   */
  private resumeRetries(managed: Managed, status: HostStatus | undefined): void {
    const failures = status?.failures;
    if (typeof failures === 'number' && Number.isInteger(failures) && failures > managed.failures) managed.failures = failures;
    const stored = status?.nextAttempt === undefined ? NaN : Date.parse(status.nextAttempt);
    if (Number.isNaN(stored)) return;
    const nextAttempt = Math.min(stored, this.timing.now() + MAX_RETRY_WAIT_MS);
    if (managed.nextAttempt === undefined || nextAttempt > managed.nextAttempt) managed.nextAttempt = nextAttempt;
  }

  private publishAll(): void {
    this.publish([...this.hosts.values()].flatMap((managed) => (managed.certificate ? [managed.certificate] : [])));
  }

  private keyOf(host: string, file: 'chain.pem' | 'key.pem' | 'status.json'): string {
    return storageKey(this.issuer.caId, host, file);
  }
}
