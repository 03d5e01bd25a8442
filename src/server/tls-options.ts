import type { ServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { dnsNameCovers } from '../policy/dns-name.js';
import type { CertificateSelector } from '../tls/certificate.js';
import { strictTlsServerOptions, type TlsServerOptions } from '../tls/server-settings.js';

// RFC 8737 §4: TLS-ALPN-01 validation negotiates acme-tls/1; every other client gets http/1.1.
const ALPN_PROTOCOLS = ['http/1.1', 'acme-tls/1'];

/**
 * The TLS face of the policy listener. A client that sends no SNI, or a name we do not serve,
 * gets the neutral certificate, which names no configured domain: scanning the address must
 * not list the domains hosted here.
 */
export function tlsServerOptions(options: TlsServerOptions): ServerOptions {
  return { ...strictTlsServerOptions(options), ALPNProtocols: ALPN_PROTOCOLS };
}

/**
 * Whether the certificate served on this connection (the one its SNI selected; the neutral one
 * without SNI) covers `host`. Asked per request, so a certificate renewed since the handshake
 * is judged as it is now.
 */
export function servedCertificateCovers(certificateFor: CertificateSelector): (socket: TLSSocket, host: string) => boolean {
  return (socket, host) => {
    const servername = socket.servername;
    if (!servername) return false;
    // The common case: a certificate selected for a name covers that name.
    if (servername === host) return certificateFor(host) !== undefined;
    const served = certificateFor(servername.toLowerCase());
    return served !== undefined && served.dnsNames.some((name) => dnsNameCovers(name, host));
  };
}
