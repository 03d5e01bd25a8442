import { createSecureContext } from 'node:tls';
import type { Storage } from '../../storage/storage.js';
import type { ServedCertificate } from '../certificate.js';

/** RFC 8555 §8.1: a token is base64url; CAs send 43 characters, more than this is no token of ours. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Answers to pending ACME challenges while an order is pending. The issuer adds and removes
 * them; the listeners answer them: HTTP-01 key authorizations by token on port 80 (RFC 8555
 * §8.3), TLS-ALPN-01 certificates by host on the HTTPS port (RFC 8737).
 *
 * HTTP-01 key authorizations go through storage as well (`challenge-tokens/<token>`), as
 * certmagic's distributed solver does: the CA's validation request reaches whichever replica its
 * DNS and load balancer pick, not necessarily the one that placed the order. This process's own
 * tokens are answered from memory, so a single process costs no storage read.
 *
 * TLS-ALPN-01 certificates stay in memory: the SNI callback that hands them out is synchronous
 * (Node's TLS cannot wait for storage in the middle of a handshake), and the validation
 * connection must reach the process that placed the order; use HTTP-01 behind a load balancer.
 */
export class AcmeChallengeTokens {
  private readonly byToken = new Map<string, string>();
  private readonly alpnByHost = new Map<string, ServedCertificate>();

  constructor(private readonly storage: Storage) {}

  async set(token: string, keyAuthorization: string): Promise<void> {
    this.byToken.set(token, keyAuthorization);
    await this.storage.store(tokenKey(token), keyAuthorization);
  }

  async delete(token: string): Promise<void> {
    this.byToken.delete(token);
    await this.storage.delete(tokenKey(token));
  }

  /** The key authorization for a token placed by this process or by another sharing the storage; undefined when none is pending. */
  async keyAuthorization(token: string): Promise<string | undefined> {
    const own = this.byToken.get(token);
    if (own !== undefined || !TOKEN.test(token)) return own;
    return (await this.storage.load(tokenKey(token)))?.toString();
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

function tokenKey(token: string): string {
  return `challenge-tokens/${token}`;
}
