import type { Socket } from 'node:net';
import { connect, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';
import { dnsNameCovers } from '../policy/dns-name.js';
import { normaliseDomainName } from '../policy/domain-name.js';

/** What a sender checks of the certificate a server presented. */
export interface PeerCertificateFacts {
  /** Why the chain is not trusted, in words; undefined when it leads to a trusted root and is in its validity period. */
  chainProblem: string | undefined;
  /** The certificate's DNS-IDs (subjectAltName dNSName entries), at most MAX_NAMES. */
  names: string[];
  /** Whether one of `names` covers the host name asked for. */
  nameMatches: boolean;
  /** Epoch ms. */
  notAfter: number;
  issuer: string;
}

/** DNS-IDs of a certificate looked at; a certificate with more is shown cut. */
const MAX_NAMES = 100;

/** OpenSSL's verification codes a sender most often sees, in words. */
const CHAIN_PROBLEMS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a self-signed root that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the chain does not lead to a trusted root (intermediate missing?)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the chain does not lead to a trusted root (intermediate missing?)',
  UNABLE_TO_GET_ISSUER_CERT: 'the chain does not lead to a trusted root (intermediate missing?)',
};

/** The publicly trusted roots Node ships, plus the extra trust anchors given (a private CA). */
export function trustAnchors(extraPem: readonly string[]): string[] {
  return [...rootCertificates, ...extraPem];
}

/**
 * A TLS handshake as a strict sender makes it (RFC 8461 §4.2: the certificate must chain to a
 * trusted root and be valid for the host name), on a fresh connection or on a socket after
 * STARTTLS. The handshake completes whatever the verdict, so that what is wrong can be named;
 * the caller sends nothing over it unless `facts` say it is valid.
 */
export function handshake(options: {
  servername: string;
  socket?: Socket;
  address?: string;
  port?: number;
  ca: readonly string[];
  alpn?: string[];
}): Promise<{ socket: TLSSocket; facts: PeerCertificateFacts }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      ...(options.socket ? { socket: options.socket } : { host: options.address, port: options.port }),
      servername: options.servername,
      ca: [...options.ca],
      ...(options.alpn && { ALPNProtocols: options.alpn }),
      // Verified below, after the handshake, so that the failure can be told apart; the name by
      // certificateFacts, with RFC 8461's rules rather than Node's (which allows partial wildcards).
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      const certificate = socket.getPeerCertificate();
      if (!certificate || Object.keys(certificate).length === 0) {
        socket.destroy();
        reject(new Error('the server presented no certificate'));
        return;
      }
      const error = socket.authorizationError as unknown as Error | string | null;
      const code =
        error === null ? undefined : typeof error === 'string' ? error : ((error as NodeJS.ErrnoException).code ?? error.message);
      resolve({ socket, facts: certificateFacts(certificate, options.servername, code) });
    });
  });
}

function certificateFacts(certificate: PeerCertificate, host: string, errorCode: string | undefined): PeerCertificateFacts {
  const names = dnsIds(certificate.subjectaltname ?? '');
  return {
    chainProblem: errorCode === undefined ? undefined : (CHAIN_PROBLEMS[errorCode] ?? `the chain is not trusted (${errorCode})`),
    names,
    nameMatches: names.some((name) => dnsNameCovers(name, host)),
    notAfter: Date.parse(certificate.valid_to),
    issuer: [certificate.issuer?.CN ?? certificate.issuer?.O ?? ''].flat()[0] ?? '',
  };
}

/**
 * RFC 6125 §6.4 as RFC 8461 §4.2 requires it: the DNS-IDs of the subjectAltName, never the
 * subject's CN; a wildcard only as the whole left-most label (dnsNameCovers: it covers one label).
 */
function dnsIds(subjectAltName: string): string[] {
  const names: string[] = [];
  for (const entry of subjectAltName.split(', ')) {
    if (names.length === MAX_NAMES) break;
    if (!entry.startsWith('DNS:')) continue;
    const value = entry.slice(4);
    const wildcard = value.startsWith('*.');
    const name = normaliseDomainName(wildcard ? value.slice(2) : value);
    // A name that is no valid host name (partial wildcards such as f*.example.com too) covers nothing.
    if (name.ok) names.push(wildcard ? `*.${name.name}` : name.name);
  }
  return names;
}

/** Whole days from `now` until `notAfter`, rounded down; negative once expired. */
export const daysLeft = (notAfter: number, now: number): number => Math.floor((notAfter - now) / 86_400_000);
