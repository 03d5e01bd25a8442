/**
 * Whether a DNS name pattern (a certificate's DNS-ID, an mx pattern of a policy) covers a host
 * name; both already normalised (lower case, A-labels, no trailing dot).
 */
export function dnsNameCovers(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  // RFC 8461 §4.1: a wildcard matches exactly one label, the left-most one (as RFC 6125 §6.4.3 for certificates).
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}
