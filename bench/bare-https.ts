/**
 * The shared bench's bare `node:https` server (../shared/bench/servers/node-minimal.js) with one
 * of the service's per-connection costs added at a time, to count what each costs a new
 * connection with bench/instructions-per-connection.sh or bench/side-by-side.sh (README, "Against
 * the leanest Node server that logs"). BARE_HTTPS_WITH names it:
 *   tls-settings   the policy listener's TLS settings: SNI callback, ALPN, suites, signature
 *                  algorithms, and a neutral certificate of its own (same-neutral: the served one)
 *   limits         its header, request, keep-alive and handshake limits (src/server/node-server.ts)
 *   connections    its open connections, kept for a graceful stop and swept for the inactivity timeout
 *   no-tickets     only the TLS setting that seals no session into tickets (SSL_OP_NO_TICKET)
 * Several, comma-separated, add up. Nothing, or anything else: the bare server.
 */
import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type ServerOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import { trackOpenConnections } from '../src/net/open-connections.js';
import { DEFAULT_CONNECTION_LIMITS, nodeServerLimits } from '../src/server/node-server.js';
import { tlsServerOptions } from '../src/server/tls-options.js';
import { createNeutralCertificate } from '../src/tls/neutral-certificate.js';

const env = process.env;
const added = new Set((env.BARE_HTTPS_WITH ?? '').split(','));
const policy = readFileSync(env.BENCH_POLICY_FILE!);
const key = readFileSync(env.BENCH_KEY!, 'utf8');
const cert = readFileSync(env.BENCH_CERT!, 'utf8');
const headers = { 'Content-Type': 'text/plain', 'Content-Length': String(policy.length) };

const options: ServerOptions = { key, cert };
if (added.has('tls-settings')) {
  const certificate = { context: createSecureContext({ key, cert }), dnsNames: ['mta-sts.example.com'] };
  // As deployed, the neutral certificate is another key than the served one (`same-neutral`: the served one's).
  const neutral = added.has('same-neutral') ? { key, cert } : createNeutralCertificate();
  Object.assign(options, tlsServerOptions({ certificateFor: () => certificate, neutral }));
}
if (added.has('no-tickets')) options.secureOptions = constants.SSL_OP_NO_TICKET;
if (added.has('limits')) {
  // As createNodeServer sets them for a TLS listener: the handshake has the headers' deadline.
  Object.assign(options, {
    ...nodeServerLimits(DEFAULT_CONNECTION_LIMITS),
    handshakeTimeout: DEFAULT_CONNECTION_LIMITS.headersTimeoutMs,
  });
}

const server = createServer(options, (request, response) => {
  response.writeHead(200, headers);
  response.end(request.method === 'HEAD' ? undefined : policy);
});
if (added.has('connections')) trackOpenConnections(server, 'secureConnection', DEFAULT_CONNECTION_LIMITS.inactivityTimeoutMs);
server.listen(Number(env.BENCH_PORT), env.BENCH_HOST ?? '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
