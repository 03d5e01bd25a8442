import { constants } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import type { CertificateSelector } from './certificate.js';

export interface TlsServerOptions {
  certificateFor: CertificateSelector;
  /** For clients without SNI or with a name we do not serve: a certificate that names no configured domain. */
  neutral: { cert: string; key: string };
}

// RFC 8461 §3.3 requires TLS; RFC 8996 retired 1.0 and 1.1. TLS 1.3 keeps its default suites
// (all AEAD). TLS 1.2 gets forward-secret ECDHE with an AEAD cipher only (RFC 9325 §4.2): no CBC
// (nor its SHA-1 MACs), no CCM or CCM8, no ARIA or Camellia, no static RSA or finite-field DHE.
// AES-128-GCM comes first, as in Mozilla's recommended configurations and Go's crypto/tls: its
// handshake hashes with SHA-256, which current x86 and ARM processors compute in hardware, where
// OpenSSL's default first choice hashes with SHA-384 in software (about 3 % of a new connection's
// cost in the README's benchmark).
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const TLS12_SUITES = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
];
const CIPHER_SUITES = [...TLS13_SUITES, ...TLS12_SUITES].join(':');

/**
 * Signature algorithms, ECDSA last (and none with SHA-1 or SHA-224). Node's SNI callback does
 * not replace the listener's default certificate: it adds the chosen one in the slot of its key
 * type (UseSNIContext in Node's src/crypto), so a connection for an RSA certificate still holds
 * the neutral ECDSA one, and a client that prefers ECDSA would be shown it. The server chooses
 * (honorCipherOrder) and ranks ECDSA below every other key type, in these signature algorithms
 * and in the TLS 1.2 suites above: a certificate of another type is preferred to the neutral
 * one, and one of the same type (ACME and self-signed certificates are ECDSA) replaces it.
 */
const SIGNATURE_ALGORITHMS = [
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pss_rsae_sha512',
  'rsa_pss_pss_sha256',
  'rsa_pss_pss_sha384',
  'rsa_pss_pss_sha512',
  'rsa_pkcs1_sha256',
  'rsa_pkcs1_sha384',
  'rsa_pkcs1_sha512',
  'ed25519',
  'ed448',
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'ecdsa_secp521r1_sha512',
].join(':');

/**
 * The TLS settings of every listener: the certificate for the SNI name, the neutral one
 * otherwise, and only the versions and suites above. The policy listener adds ALPN
 * (src/server/tls-options.ts); the SMTP receiver's STARTTLS (RFC 3207) uses them as they are.
 */
export function strictTlsServerOptions({ certificateFor, neutral }: TlsServerOptions): ServerOptions {
  return {
    // The listener's own context: its settings apply to every connection (a context the SNI
    // callback picks lends only its certificate), and its certificate is the neutral one.
    ...neutral,
    // A name we do not serve gets no context of its own: the handshake goes on with the neutral certificate.
    SNICallback: (servername, done) => done(null, certificateFor(servername.toLowerCase())?.context),
    ciphers: CIPHER_SUITES,
    sigalgs: SIGNATURE_ALGORITHMS,
    // Node's default for servers, which the ranking above relies on.
    honorCipherOrder: true,
    minVersion: 'TLSv1.2',
    // No session is resumed. A sender fetches a policy again only when its id changes or its
    // max_age runs out (RFC 8461 §3.3, §5.1), days later, so a session ticket is never used; yet
    // OpenSSL sealed the whole session into two of them at every TLS 1.3 handshake (AES and HMAC),
    // about 7 % of a new connection's cost in the README's benchmark. With this option the tickets
    // carry only a session id (RFC 8446 §4.6.1 lets the server keep the state), and Node keeps
    // none: a client that offers one gets a full handshake.
    secureOptions: constants.SSL_OP_NO_TICKET,
  };
}
