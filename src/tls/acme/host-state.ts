/**
 * What the ACME maintenance keeps per host in storage, and when a certificate is due: shared
 * with `mta-sts-server certs`, which reads the same records without running the maintenance.
 */

/**
 * What `mta-sts-server certs` shows for a host, and the retry state that outlives a restart;
 * kept in storage beside the certificate.
 */
export interface HostStatus {
  host: string;
  lastError?: { at: string; message: string; type?: string };
  /** No order before this time (the backoff, or the CA's Retry-After). */
  nextAttempt?: string;
  /** Failed orders since the last certificate: the next backoff doubles from here. */
  failures?: number;
}

/** A stored status.json; undefined when it does not parse (it is rewritten at the next order). */
export function parseHostStatus(text: string): HostStatus | undefined {
  try {
    const status = JSON.parse(text) as unknown;
    return typeof status === 'object' && status !== null && typeof (status as HostStatus).host === 'string'
      ? (status as HostStatus)
      : undefined;
  } catch {
    return undefined;
  }
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
