import { readFile } from 'node:fs/promises';
import { loadCertificate, type LiveCertificate } from './certificate.js';
import { readErrorReason } from '../files/read-error.js';

export interface CertificateFilePair {
  readonly cert: string;
  readonly key: string;
}

/**
 * Certificates from PEM files that another tool keeps up to date (certbot, cert-manager, a
 * mounted secret). Each pair is re-read when asked; a pair that fails keeps the certificate it
 * last loaded, so a half-written or broken replacement never takes a host down.
 */
export class CertificateFiles {
  private readonly lastGood = new Map<string, { fingerprint: string; certificate: LiveCertificate }>();

  constructor(private readonly pairs: readonly CertificateFilePair[]) {}

  get paths(): string[] {
    return this.pairs.flatMap((pair) => [pair.cert, pair.key]);
  }

  /** Re-reads every pair; `changed` lists the pairs whose content differs from what is loaded. */
  async reload(): Promise<{ certificates: LiveCertificate[]; changed: LiveCertificate[]; errors: string[] }> {
    const certificates: LiveCertificate[] = [];
    const changed: LiveCertificate[] = [];
    const errors: string[] = [];
    for (const pair of this.pairs) {
      const previous = this.lastGood.get(pair.cert);
      const loaded = await this.loadPair(pair, previous?.fingerprint);
      if (loaded.kind === 'unchanged') certificates.push(previous!.certificate);
      else if (loaded.kind === 'loaded') {
        this.lastGood.set(pair.cert, loaded);
        certificates.push(loaded.certificate);
        changed.push(loaded.certificate);
      } else {
        errors.push(loaded.error);
        if (previous) certificates.push(previous.certificate);
      }
    }
    return { certificates, changed, errors };
  }

  private async loadPair(
    pair: CertificateFilePair,
    previousFingerprint: string | undefined,
  ): Promise<
    | { kind: 'unchanged' }
    | { kind: 'loaded'; fingerprint: string; certificate: LiveCertificate }
    | { kind: 'failed'; error: string }
  > {
    let chain: string;
    let key: string;
    try {
      // One after the other, so that with both missing the message always names the certificate first.
      chain = await readFile(pair.cert, 'utf8');
      key = await readFile(pair.key, 'utf8');
    } catch (error) {
      const { path } = error as NodeJS.ErrnoException;
      return { kind: 'failed', error: `${path ?? pair.cert}: cannot read: ${readErrorReason(error)}` };
    }
    const fingerprint = `${chain}\u0000${key}`;
    if (fingerprint === previousFingerprint) return { kind: 'unchanged' };
    try {
      return { kind: 'loaded', fingerprint, certificate: loadCertificate(chain, key, pair.cert) };
    } catch (error) {
      return { kind: 'failed', error: (error as Error).message };
    }
  }
}
