import type { Logger } from 'pino';
import type { Storage } from '../../storage/storage.js';
import { loadCertificate, type LiveCertificate } from '../certificate.js';
import { AcmeError, type AcmeIssuer } from './acme-issuer.js';

export interface MaintenanceTiming {
  /** How often a host with a good certificate is looked at again, at most. */
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

/** What `mta-sts-server certs` shows for a host; kept in storage beside the certificate. */
export interface HostStatus {
  host: string;
  lastError?: { at: string; message: string; type?: string };
  nextAttempt?: string;
}

/** Where a host's certificate, key and status live in storage, per CA. */
export function storageKey(caId: string, host: string, file: 'chain.pem' | 'key.pem' | 'status.json'): string {
  return `certificates/${caId}/${host}/${file}`;
}

/** When a certificate is due for renewal: once `renewWhenRemaining` of its lifetime is left. */
export function renewalDue(certificate: { notBefore: Date; notAfter: Date }, renewWhenRemaining: number): number {
  const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
  return certificate.notAfter.getTime() - lifetime * renewWhenRemaining;
}

interface Managed {
  timer?: NodeJS.Timeout;
  inFlight?: Promise<void>;
  failures: number;
  certificate?: LiveCertificate;
}

/**
 * Keeps a certificate for every managed host: loads what storage has, orders what is missing
 * or due for renewal, and retries failures with exponential backoff and jitter. A working
 * certificate is never dropped because a renewal failed. At most one order per host is in
 * flight, here and (through the storage lock) across replicas sharing the storage.
 */
export class AcmeMaintenance {
  private readonly hosts = new Map<string, Managed>();
  /** Orders wait until the listeners are up: an HTTP-01 challenge is answered by the port-80 listener. */
  private ordering = false;

  constructor(
    private readonly issuer: AcmeIssuer,
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

  /** Looks at one host now; resolves when any order it started has finished (tests and the CLI wait on it). */
  check(host: string): Promise<void> {
    const managed = this.hosts.get(host);
    if (!managed) return Promise.resolve();
    managed.inFlight ??= this.maintain(host, managed).finally(() => (managed.inFlight = undefined));
    return managed.inFlight;
  }

  stop(): void {
    for (const managed of this.hosts.values()) clearTimeout(managed.timer);
    this.hosts.clear();
  }

  private async maintain(host: string, managed: Managed): Promise<void> {
    if (!this.dueForRenewal(managed.certificate)) return this.schedule(host, managed, this.untilDue(managed.certificate!));
    let release: (() => Promise<void>) | undefined;
    try {
      release = await this.storage.lock(`order-${this.issuer.caId}-${host}`);
      // Another replica may have renewed while this one waited for the lock.
      await this.loadStored(host);
      if (!this.dueForRenewal(managed.certificate)) return this.schedule(host, managed, this.untilDue(managed.certificate!));
      const renewing = managed.certificate !== undefined;
      this.log.info(
        { event: 'certificate_order', host, reason: renewing ? 'renewal' : 'missing' },
        `ordering a certificate for ${host}`,
      );
      const issued = await this.issuer.issue(host);
      const certificate = loadCertificate(issued.chainPem, issued.keyPem, `acme:${host}`);
      await this.storage.store(this.keyOf(host, 'key.pem'), issued.keyPem, { secret: true });
      await this.storage.store(this.keyOf(host, 'chain.pem'), issued.chainPem);
      await this.storage.store(this.keyOf(host, 'status.json'), JSON.stringify({ host } satisfies HostStatus));
      managed.certificate = certificate;
      managed.failures = 0;
      this.publishAll();
      this.log.info(
        {
          event: 'certificate_loaded',
          source: 'acme',
          host,
          issuer: certificate.issuer,
          serial: certificate.serialNumber,
          not_after: certificate.notAfter.toISOString(),
          renewal: renewing,
        },
        `certificate for ${host} obtained; valid until ${certificate.notAfter.toISOString()}`,
      );
      this.schedule(host, managed, this.untilDue(certificate));
    } catch (error) {
      await this.failed(host, managed, error);
    } finally {
      // A storage that cannot release is reported like any failure; it must not crash the service.
      await release?.().catch((error: Error) =>
        this.log.error({ event: 'storage_error', detail: error.message }, 'could not release an order lock'),
      );
    }
  }

  private async failed(host: string, managed: Managed, error: unknown): Promise<void> {
    if (!this.hosts.has(host)) return; // removed from the config while the order ran
    managed.failures++;
    const problem = error instanceof AcmeError ? error : new AcmeError((error as Error).message, undefined, undefined);
    const backoff = Math.min(this.timing.maxRetryMs, this.timing.minRetryMs * 2 ** (managed.failures - 1));
    // Jitter spreads retries of many hosts (and replicas) instead of hitting the CA at once.
    const delay = Math.max(problem.retryAfterMs ?? 0, Math.round(backoff * (0.75 + Math.random() * 0.5)));
    const nextAttempt = new Date(this.timing.now() + delay).toISOString();
    const status: HostStatus = {
      host,
      lastError: {
        at: new Date(this.timing.now()).toISOString(),
        message: problem.message,
        ...(problem.problem?.type && { type: problem.problem.type }),
      },
      nextAttempt,
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
    this.schedule(host, managed, delay);
  }

  private schedule(host: string, managed: Managed, delayMs: number): void {
    clearTimeout(managed.timer);
    const jittered = Math.min(delayMs, this.timing.checkIntervalMs * (0.9 + Math.random() * 0.2));
    managed.timer = setTimeout(() => void this.check(host), Math.max(0, jittered));
    managed.timer.unref();
  }

  private dueForRenewal(certificate: LiveCertificate | undefined): boolean {
    return certificate === undefined || this.untilDue(certificate) <= 0;
  }

  private untilDue(certificate: LiveCertificate): number {
    return renewalDue(certificate, this.timing.renewWhenRemaining) - this.timing.now();
  }

  private async loadStored(host: string): Promise<void> {
    const managed = this.hosts.get(host);
    if (!managed) return;
    const [chain, key] = await Promise.all([
      this.storage.load(this.keyOf(host, 'chain.pem')),
      this.storage.load(this.keyOf(host, 'key.pem')),
    ]);
    if (!chain || !key) return;
    try {
      const stored = loadCertificate(chain.toString(), key.toString(), `acme:${host}`);
      if (!managed.certificate || stored.serialNumber !== managed.certificate.serialNumber) managed.certificate = stored;
    } catch (error) {
      this.log.error(
        { event: 'certificate_error', source: 'acme', host, detail: (error as Error).message },
        `stored certificate for ${host} is unusable; ordering a new one`,
      );
    }
  }

  private publishAll(): void {
    this.publish([...this.hosts.values()].flatMap((managed) => (managed.certificate ? [managed.certificate] : [])));
  }

  private keyOf(host: string, file: 'chain.pem' | 'key.pem' | 'status.json'): string {
    return storageKey(this.issuer.caId, host, file);
  }
}
