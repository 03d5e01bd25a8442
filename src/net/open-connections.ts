import type { Server, Socket } from 'node:net';
// The module's object: the global `performance` is a getter, looked up again at every call.
import { performance } from 'node:perf_hooks';

/** A connection's byte counts as the inactivity sweep last saw them, and since when they have not moved. */
interface Activity {
  bytes: number;
  quietSince: number;
}

const tracked = new WeakMap<Server, { connections: Map<Socket, Activity>; inactivityTimeoutMs: number }>();
/** Connections meant to stay open in silence (a live event stream): the inactivity timeout passes them by. */
const silenceAllowed = new WeakSet<Socket>();

/** Exempts a connection from the inactivity timeout, for an answer that is meant to stay open. */
export function allowSilence(socket: Socket): void {
  silenceAllowed.add(socket);
}

/** The connections of a server made by trackOpenConnections that are open now. */
export function openConnectionsOf(server: Server): Iterable<Socket> {
  return tracked.get(server)?.connections.keys() ?? [];
}

/** The inactivity timeout trackOpenConnections applies to the server's connections. */
export function inactivityTimeoutOf(server: Server): number | undefined {
  return tracked.get(server)?.inactivityTimeoutMs;
}

/**
 * Keeps the server's open connections (those of `event`, once they can carry requests) and
 * closes those on which nothing has moved for `inactivityTimeoutMs`. It looks a few times per
 * timeout, at most once a second, so a connection is closed up to a second (or a quarter of the
 * timeout) late: Node's own `server.setTimeout` keeps a timer per connection and refreshes it on
 * every read and write, which every request paid for.
 */
export function trackOpenConnections(
  server: Server,
  event: 'connection' | 'secureConnection',
  inactivityTimeoutMs: number,
): void {
  const connections = new Map<Socket, Activity>();
  // One listener for every socket, rather than a closure each.
  const forget = function (this: Socket) {
    connections.delete(this);
  };
  server.on(event, (socket: Socket) => {
    connections.set(socket, { bytes: 0, quietSince: performance.now() });
    // Stryker disable next-line StringLiteral: a closed socket left in the map is only destroyed again, which does nothing; what it costs is memory, which no test can watch
    socket.on('close', forget);
  });
  const sweep = () => {
    const now = performance.now();
    for (const [socket, activity] of connections) {
      const bytes = socket.bytesRead + socket.bytesWritten;
      if (bytes !== activity.bytes) [activity.bytes, activity.quietSince] = [bytes, now];
      else if (now - activity.quietSince >= inactivityTimeoutMs && !silenceAllowed.has(socket)) socket.destroy();
    }
  };
  let sweeping: NodeJS.Timeout | undefined;
  server.on('listening', () => {
    clearInterval(sweeping);
    sweeping = setInterval(sweep, Math.min(1_000, inactivityTimeoutMs / 4)).unref();
  });
  server.on('close', () => clearInterval(sweeping));
  tracked.set(server, { connections, inactivityTimeoutMs });
}
