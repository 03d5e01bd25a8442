import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';

/** A client must send complete request headers within this time, or the connection is closed. */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Timeouts that keep slow or idle clients from holding sockets. Node checks header and request
 * deadlines on a timer (30 s by default); checking every second makes the 10 s limit real.
 */
const connectionLimits = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
  // RFC 7230 §5.4: a request must carry exactly one Host header (Node answers 400 otherwise).
  requireHostHeader: true,
};

export type TlsServerOptions = Pick<HttpsOptions, 'SNICallback' | 'cert' | 'key'>;

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export function createNodeServer(handler: Handler, tls: TlsServerOptions | undefined): Server {
  if (!tls) return createHttpServer(connectionLimits, handler);
  return createHttpsServer(
    {
      ...connectionLimits,
      ...tls,
      // RFC 8461 §3.3 requires TLS; RFC 8996 retired 1.0 and 1.1.
      minVersion: 'TLSv1.2',
      // A TCP connection that never finishes its handshake is dropped as fast as one that never sends headers.
      handshakeTimeout: HEADERS_TIMEOUT_MS,
    },
    handler,
  );
}
