import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

/** A certificate ready to serve, with the names it covers. */
export interface ServedCertificate {
  readonly context: SecureContext;
  readonly dnsNames: readonly string[];
}

/** Which certificate a server name (SNI, lower case) gets; undefined for a name we do not serve. */
export type CertificateSelector = (servername: string) => ServedCertificate | undefined;

/** A certificate chain and its key, checked and ready to hand to the TLS stack. */
export interface LiveCertificate extends ServedCertificate {
  /** DNS names from the subjectAltName extension (RFC 8461 §3.3 checks only DNS-IDs). */
  readonly dnsNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialNumber: string;
  readonly issuer: string;
  /** Built on the first handshake that needs it: thousands of hosts must not slow the start. */
  readonly context: SecureContext;
  /** Where the certificate came from, for messages: a path or "self-signed". */
  readonly origin: string;
}

/** A private key as PEM (what the TLS stack takes) and parsed (what the checks take). */
export interface PrivateKey {
  readonly pem: string;
  readonly parsed: KeyObject;
}

/**
 * Parses a PEM private key; throws a message naming `origin`. A key shared by many certificates
 * (the self-signed source's leaf key) is parsed once: at half a millisecond a parse, its 1 000
 * certificates at 100 000 domains cost half a second of every start otherwise.
 */
export function parsePrivateKey(pem: string, origin: string): PrivateKey {
  try {
    return { pem, parsed: createPrivateKey(pem) };
  } catch (error) {
    throw new Error(`${origin}: the private key does not parse: ${(error as Error).message}`);
  }
}

/**
 * Checks that the PEM chain parses, that the key belongs to the first certificate and that
 * it carries DNS names, then builds its secure context. Throws a message an admin can act on.
 */
export function loadCertificate(chainPem: string, privateKey: string | PrivateKey, origin: string): LiveCertificate {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error(`${origin}: no PEM certificate found`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
  } catch (error) {
    throw new Error(`${origin}: the first certificate does not parse: ${(error as Error).message}`);
  }
  const { pem: keyPem, parsed: key } = typeof privateKey === 'string' ? parsePrivateKey(privateKey, origin) : privateKey;
  if (!leaf.checkPrivateKey(key)) throw new Error(`${origin}: the private key does not belong to the certificate`);
  const dnsNames = (leaf.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  if (dnsNames.length === 0) throw new Error(`${origin}: the certificate has no DNS names in subjectAltName`);
  let context: SecureContext | undefined;
  return {
    dnsNames,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serialNumber: leaf.serialNumber,
    issuer: leaf.issuer.replace(/\n/g, ', '),
    get context() {
      context ??= createSecureContext({ cert: chainPem, key: keyPem });
      return context;
    },
    origin,
  };
}
