/** A certificate as an issuer hands it over: PEM chain (leaf first) and its private key. */
export interface IssuedCertificate {
  chainPem: string;
  keyPem: string;
}

/**
 * What the maintenance loop needs from a CA: AcmeIssuer in the service, a scripted one in tests.
 * `issue` rejects with an AcmeError, carrying the CA's problem and Retry-After when it sent them.
 */
export interface CertificateIssuer {
  /** The storage namespace of this CA: accounts and certificates of different CAs never mix. */
  readonly caId: string;
  issue(host: string): Promise<IssuedCertificate>;
}

/** An order that failed, with the CA's problem document when there was one (RFC 8555 §6.7). */
export class AcmeError extends Error {
  constructor(
    message: string,
    readonly problem: { type?: string; detail?: string } | undefined,
    /** From a Retry-After header or a rate-limit problem, when the CA said when to come back. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}
