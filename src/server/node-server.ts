import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tlsServerOptions, type TlsServerOptions } from './tls-options.js';

/** A client must send complete request headers within this time, or the connection is closed. */
const HEADERS_TIMEOUT_MS = 10_000;

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

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const openSockets = new WeakMap<Server, Set<Socket>>();

export function createNodeServer(handler: Handler, tls: TlsServerOptions | undefined): Server {
  const server = tls
    ? createHttpsServer(
        {
          ...connectionLimits,
          ...tlsServerOptions(tls),
          // A TCP connection that never finishes its handshake is dropped as fast as one that never sends headers.
          handshakeTimeout: HEADERS_TIMEOUT_MS,
        },
        handler,
      )
    : createHttpServer(connectionLimits, handler);
  // The header deadline starts with the first byte of a request; a client that connects and
  // then says nothing is closed by this inactivity timeout instead.
  server.setTimeout(HEADERS_TIMEOUT_MS);
  const sockets = new Set<Socket>();
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  openSockets.set(server, sockets);
  return server;
}

/**
 * For a graceful stop: closes every connection that has no request in progress (idle
 * keep-alive, silent, or still sending headers), and leaves those being answered alone.
 */
export function closeConnectionsWithoutRequest(server: Server): void {
  for (const socket of openSockets.get(server) ?? []) {
    // Node sets `_httpMessage` while a response is pending on the socket; its own
    // closeIdleConnections() relies on the same field but skips sockets without a request yet.
    if (!(socket as Socket & { _httpMessage?: unknown })._httpMessage) socket.destroy();
  }
}
