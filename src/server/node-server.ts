import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { openConnectionsOf, trackOpenConnections } from '../net/open-connections.js';
import type { TlsServerOptions } from '../tls/server-settings.js';
import { tlsServerOptions } from './tls-options.js';

/** How long a client may take over each step of a connection before it is closed. */
export interface ConnectionLimits {
  /** Complete request headers must arrive within this time of their first byte (then 408 and close); a TLS handshake too. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this time. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this time. */
  keepAliveTimeoutMs: number;
  /** A connection on which nothing arrives for this time is closed: one that connects and says nothing, say. */
  inactivityTimeoutMs: number;
}

/** What slow or idle clients get on the open internet (the README's "Connection limits"). */
export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  inactivityTimeoutMs: 10_000,
};

/** Node's server options for the limits (bench/bare-https.ts counts what they cost a connection). */
export function nodeServerLimits(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks header and request deadlines on a timer (30 s by default); every second makes them real.
    connectionsCheckingInterval: 1_000,
    // RFC 7230 §5.4: a request must carry exactly one Host header (Node answers 400 otherwise).
    requireHostHeader: true,
  };
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export function createNodeServer(
  handler: Handler,
  tls: TlsServerOptions | undefined,
  configuredLimits: Partial<ConnectionLimits> = {},
): Server {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...configuredLimits };
  const server = tls
    ? createHttpsServer(
        {
          ...nodeServerLimits(limits),
          ...tlsServerOptions(tls),
          // A TCP connection that never finishes its handshake is dropped as fast as one that never sends headers.
          handshakeTimeout: limits.headersTimeoutMs,
        },
        handler,
      )
    : createHttpServer(nodeServerLimits(limits), handler);
  // The header deadline starts with the first byte of a request; a client that connects and
  // then says nothing is closed by the inactivity timeout instead.
  trackOpenConnections(server, tls ? 'secureConnection' : 'connection', limits.inactivityTimeoutMs);
  return server;
}

/**
 * For a graceful stop: closes every connection that has no request in progress (idle
 * keep-alive, silent, or still sending headers), and leaves those being answered alone.
 */
export function closeConnectionsWithoutRequest(server: Server): void {
  for (const socket of openConnectionsOf(server)) {
    // Node sets `_httpMessage` while a response is pending on the socket; its own
    // closeIdleConnections() relies on the same field but skips sockets without a request yet.
    if (!(socket as Socket & { _httpMessage?: unknown })._httpMessage) socket.destroy();
  }
}
