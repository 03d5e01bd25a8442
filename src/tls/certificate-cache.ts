import type { SecureContext } from 'node:tls';
import { dnsNameCovers, type LiveCertificate } from './certificate.js';

/**
 * The certificates being served, indexed by host for the SNI callback. A source replaces the
 * whole set at once, so a handshake sees either the old set or the new one; connections that
 * are already open keep the context they were made with.
 */
export class CertificateCache {
  private byHost = new Map<string, LiveCertificate>();
  private wildcards: LiveCertificate[] = [];
  private fallback: LiveCertificate | undefined;
  private readonly listeners: ((fallback: LiveCertificate) => void)[] = [];

  /** Called after each replacement with the certificate for clients that send no SNI. */
  onReplace(listener: (fallback: LiveCertificate) => void): void {
    this.listeners.push(listener);
  }

  replaceAll(certificates: readonly LiveCertificate[]): void {
    const byHost = new Map<string, LiveCertificate>();
    const wildcards: LiveCertificate[] = [];
    // Later certificates win for a name, and the one that expires last wins among equals.
    const ordered = [...certificates].sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
    for (const certificate of ordered) {
      for (const name of certificate.dnsNames) {
        if (name.startsWith('*.')) wildcards.push(certificate);
        else byHost.set(name, certificate);
      }
    }
    this.byHost = byHost;
    this.wildcards = wildcards;
    this.fallback = ordered.at(-1);
    if (this.fallback) for (const listener of this.listeners) listener(this.fallback);
  }

  certificateFor(host: string): LiveCertificate | undefined {
    const exact = this.byHost.get(host);
    if (exact) return exact;
    for (let i = this.wildcards.length - 1; i >= 0; i--) {
      const certificate = this.wildcards[i]!;
      if (certificate.dnsNames.some((name) => dnsNameCovers(name, host))) return certificate;
    }
    return undefined;
  }

  all(): LiveCertificate[] {
    return [...new Set([...this.byHost.values(), ...this.wildcards])];
  }

  /** For `tls.createServer({ SNICallback })`. A client without SNI, or an unknown name, gets some certificate rather than a reset. */
  readonly sniCallback = (servername: string, done: (error: Error | null, context?: SecureContext) => void): void => {
    const certificate = this.certificateFor(servername.toLowerCase()) ?? this.fallback;
    if (certificate) done(null, certificate.context);
    else done(new Error('no certificate loaded yet'));
  };
}
