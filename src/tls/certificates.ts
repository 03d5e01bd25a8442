import type { Logger } from 'pino';
import type { TlsSettings } from '../config/schema.js';
import type { Storage } from '../storage/storage.js';
import { AcmeChallengeTokens } from './acme/challenges.js';
import type { MaintenanceTiming } from './acme/maintenance.js';
import type { LiveCertificate, ServedCertificate } from './certificate.js';
import { CertificateCache } from './certificate-cache.js';
import { logCertificateStatus } from './certificate-status.js';
import { createCertificateSource, SequentialSync, type CertificateSource } from './sources.js';

export interface CertificatesContext {
  stateDir: string;
  storage: Storage;
  log: Logger;
  /** ACME maintenance timing; tests shorten it. */
  acmeTiming?: Partial<MaintenanceTiming>;
}

/**
 * The service's certificates behind one face: the cache of live certificates the listeners read,
 * the source that fills it (self-signed, files or ACME, each with its own maintenance) and the
 * ACME challenge answers. The composition root hands it the policy hosts; nothing else reaches
 * inside.
 */
export class Certificates {
  private readonly reloads: SequentialSync;

  private constructor(
    private readonly context: CertificatesContext,
    private readonly cache: CertificateCache,
    private readonly challenges: AcmeChallengeTokens,
    private readonly source: CertificateSource,
  ) {
    this.reloads = new SequentialSync(this.source, (error) => {
      context.log.error({ event: 'certificate_error', error: error.message }, 'could not prepare certificates for the new hosts');
    });
  }

  /** The certificates of the configured source, which is loaded now (src/tls/sources.ts); nothing is read or issued yet. */
  static async open(settings: TlsSettings, context: CertificatesContext): Promise<Certificates> {
    const cache = new CertificateCache();
    const challenges = new AcmeChallengeTokens(context.storage);
    const source = await createCertificateSource(settings, { ...context, cache, challenges });
    return new Certificates(context, cache, challenges, source);
  }

  /** At start, before the listeners open: rejects when the hosts' certificates cannot be prepared. */
  prepare(hosts: readonly string[]): Promise<void> {
    return this.source.sync(hosts);
  }

  /** After a reload: queued behind the syncs before it, errors logged; never rejects. */
  serve(hosts: readonly string[]): Promise<void> {
    return this.reloads.sync(hosts);
  }

  /** Resolves when the syncs queued so far are done. */
  settled(): Promise<void> {
    return this.reloads.settled();
  }

  /** Once the listeners are up: the status lines of what is loaded, then ACME may order (its challenges need the listeners). */
  listening(listUpTo: number): void {
    logCertificateStatus(this.context.log, this.cache.all(), listUpTo);
    this.source.listening();
  }

  close(): void {
    this.source.close();
  }

  certificateFor(host: string): LiveCertificate | undefined {
    return this.cache.certificateFor(host);
  }

  challengeCertificate(host: string): ServedCertificate | undefined {
    return this.challenges.alpnCertificate(host);
  }

  keyAuthorization(token: string): Promise<string | undefined> {
    return this.challenges.keyAuthorization(token);
  }
}
