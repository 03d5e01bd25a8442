import { dnsNameCovers } from '../policy/dns-name.js';
import type { LiveCertificate } from './certificate.js';

/**
 * The certificates being served, indexed by host for the SNI callback (a name none covers gets
 * the listener's neutral certificate, src/server/tls-options.ts). A source replaces the
 * whole set at once, so a handshake sees either the old set or the new one; connections that
 * are already open keep the context they were made with.
 */
export class CertificateCache {
  private byHost = new Map<string, LiveCertificate>();
  private wildcards: LiveCertificate[] = [];

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
}
