import { join } from 'node:path';
import type { Logger } from 'pino';
import type { TlsSettings } from '../config/schema.js';
import { watchFiles, type Watch } from '../files/watch.js';
import type { CertificateCache } from './certificate-cache.js';
import { CertificateFiles } from './certificate-files.js';
import type { SelfSignedIssuer } from './self-signed.js';
import { AcmeMaintenance, DEFAULT_TIMING, type MaintenanceTiming } from './acme/maintenance.js';
import type { Storage } from '../storage/storage.js';
import type { AcmeChallengeTokens } from './acme/challenges.js';

/** Where certificates come from. The service tells a source which hosts it serves; the source keeps the cache filled. */
export interface CertificateSource {
  /** Called at start and after every config reload with the policy hosts to cover. */
  sync(hosts: readonly string[]): Promise<void>;
  /** Called once the listeners are up, for sources that need them (ACME challenges). */
  listening(): void;
  close(): void;
}

export interface SourceContext {
  stateDir: string;
  /** Where ACME keeps its account, certificates and per-host status, and the self-signed CA its own (storage/backends.ts chooses it). */
  storage: Storage;
  cache: CertificateCache;
  log: Logger;
  /** Where the ACME issuer leaves HTTP-01 key authorizations for the port-80 listener. */
  challenges: AcmeChallengeTokens;
  /** ACME maintenance timing; tests shorten it. */
  acmeTiming?: Partial<MaintenanceTiming>;
}

/**
 * The configured source. The self-signed and ACME issuers are imported here, when chosen: their
 * packages (an X.509 library; acme-client with its HTTP client and node-forge) hold about 50 MB
 * of memory that a deployment with another source would carry for nothing.
 */
export async function createCertificateSource(settings: TlsSettings, context: SourceContext): Promise<CertificateSource> {
  const { stateDir, cache, log } = context;
  switch (settings.source) {
    case 'self-signed': {
      const { SELF_SIGNED_CA_KEY, SelfSignedIssuer } = await import('./self-signed.js');
      // ca_file in the log: where the file storage keeps the CA that clients are to trust.
      return new SelfSignedSource(new SelfSignedIssuer(context.storage), join(stateDir, SELF_SIGNED_CA_KEY), cache, log);
    }
    case 'files':
      return new FileSource(new CertificateFiles(settings.certificates), cache, log);
    case 'acme': {
      const { storage } = context;
      const { AcmeIssuer } = await import('./acme/acme-issuer.js');
      const issuer = new AcmeIssuer(settings.acme, storage, context.challenges);
      const timing = { ...DEFAULT_TIMING, renewWhenRemaining: settings.acme.renew_when_remaining, ...context.acmeTiming };
      return new AcmeSource(
        new AcmeMaintenance(issuer, storage, (certificates) => cache.replaceAll(certificates), log, timing),
        log,
      );
    }
  }
}

/**
 * Hands a source the hosts of each new config, one sync at a time and newest last. Reloads can
 * follow each other faster than a sync issues a certificate: side by side, an older config's slow
 * sync finished after a newer one's and replaced its certificates, so a host served again lost its
 * certificate (421 Misdirected Request, or no handshake). A sync whose hosts a newer config has
 * already replaced is skipped.
 */
export class SequentialSync {
  private latest: readonly string[] | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly source: CertificateSource,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Resolves when this sync and every one queued before it are done; never rejects (errors go to onError). */
  sync(hosts: readonly string[]): Promise<void> {
    this.latest = hosts;
    const run = this.queue.then(() => (this.latest === hosts ? this.source.sync(hosts) : undefined));
    this.queue = run.catch(this.onError);
    return this.queue;
  }

  /** Resolves when the syncs queued so far are done. */
  settled(): Promise<void> {
    return this.queue;
  }
}

/** ACME: certificates come and go in the background; sync hands the maintenance loop the hosts. */
class AcmeSource implements CertificateSource {
  constructor(
    readonly maintenance: AcmeMaintenance,
    private readonly log: Logger,
  ) {}

  async sync(hosts: readonly string[]): Promise<void> {
    await this.maintenance.setHosts(hosts);
    for (const host of hosts) {
      if (this.maintenance.certificateOf(host)) continue;
      // After a restart in the middle of a backoff, the order waits: say until when.
      const nextAttempt = this.maintenance.nextAttemptOf(host)?.toISOString();
      this.log.warn(
        { event: 'certificate_pending', host, ...(nextAttempt && { next_attempt: nextAttempt }) },
        nextAttempt
          ? `no certificate for ${host} yet; the last order failed, next attempt ${nextAttempt} (the other hosts are served meanwhile)`
          : `no certificate for ${host} yet; ordering one (the other hosts are served meanwhile)`,
      );
    }
  }

  listening(): void {
    this.maintenance.startOrdering();
  }

  close(): void {
    this.maintenance.stop();
  }
}

class SelfSignedSource implements CertificateSource {
  constructor(
    private readonly issuer: SelfSignedIssuer,
    private readonly caFile: string,
    private readonly cache: CertificateCache,
    private readonly log: Logger,
  ) {}

  async sync(hosts: readonly string[]): Promise<void> {
    const before = new Set(this.cache.all().map((certificate) => certificate.serialNumber));
    const certificates = await this.issuer.certificatesFor(hosts);
    this.cache.replaceAll(certificates);
    const issued = certificates.filter((certificate) => !before.has(certificate.serialNumber));
    for (const certificate of issued) {
      this.log.info(
        {
          event: 'certificate_loaded',
          source: 'self-signed',
          hosts: certificate.dnsNames.length,
          not_after: certificate.notAfter.toISOString(),
          ca_file: this.caFile,
        },
        'self-signed certificate ready; trust its CA file for local tests only',
      );
    }
  }

  listening(): void {}

  close(): void {}
}

class FileSource implements CertificateSource {
  private watch: Watch | undefined;
  private reporting = new Set<string>();

  constructor(
    private readonly files: CertificateFiles,
    private readonly cache: CertificateCache,
    private readonly log: Logger,
  ) {}

  async sync(hosts: readonly string[]): Promise<void> {
    await this.reload();
    this.watch ??= watchFiles(this.files.paths, () => void this.reload());
    for (const host of hosts) {
      if (!this.cache.certificateFor(host)) {
        this.log.warn({ event: 'certificate_missing', host }, `no configured certificate file covers ${host}`);
      }
    }
  }

  private async reload(): Promise<void> {
    const { certificates, changed, errors } = await this.files.reload();
    if (changed.length > 0) this.cache.replaceAll(certificates);
    for (const certificate of changed) {
      this.log.info(
        {
          event: 'certificate_loaded',
          source: 'files',
          file: certificate.origin,
          names: certificate.dnsNames,
          not_after: certificate.notAfter.toISOString(),
          serial: certificate.serialNumber,
        },
        'certificate loaded from files',
      );
    }
    // A broken file is reported once, not at every poll, until it changes or is fixed.
    const current = new Set(errors);
    for (const error of current) {
      if (!this.reporting.has(error))
        this.log.error(
          { event: 'certificate_error', source: 'files', error },
          'certificate file rejected; the previous certificate stays in use',
        );
    }
    this.reporting = current;
  }

  listening(): void {}

  close(): void {
    this.watch?.close();
  }
}
