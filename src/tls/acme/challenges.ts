import { createSecureContext } from 'node:tls';
import type { ServedCertificate } from '../certificate.js';

/**
 * Answers to pending ACME challenges, held in memory only while an order is pending. The issuer
 * adds and removes them; the listeners answer them: HTTP-01 key authorizations by token on port
 * 80 (RFC 8555 §8.3), TLS-ALPN-01 certificates by host on the HTTPS port (RFC 8737).
 */
export class AcmeChallengeTokens {
  private readonly byToken = new Map<string, string>();
  private readonly alpnByHost = new Map<string, ServedCertificate>();

  set(token: string, keyAuthorization: string): void {
    this.byToken.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.byToken.delete(token);
  }

  keyAuthorization(token: string): string | undefined {
    return this.byToken.get(token);
  }

  setAlpnCertificate(host: string, pem: { cert: string; key: string }): void {
    this.alpnByHost.set(host, { context: createSecureContext(pem), dnsNames: [host] });
  }

  deleteAlpnCertificate(host: string): void {
    this.alpnByHost.delete(host);
  }

  /** The challenge certificate for a host while its TLS-ALPN-01 validation is pending. */
  alpnCertificate(host: string): ServedCertificate | undefined {
    return this.alpnByHost.get(host);
  }
}
