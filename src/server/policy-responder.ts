import type { IncomingMessage, ServerResponse } from 'node:http';
// The module's object: the global `performance` is a getter, looked up again at every call.
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { normaliseIp } from '../net/ip-address.js';
import type { FetchRecorder } from '../fetches/fetch-log.js';
import type { PolicySet } from '../policy/policy-set.js';
import { parseRequestTarget } from './request-target.js';
import { hostAndAgentOf } from './request-guards.js';

// RFC 8461 §3.3: the policy is at this fixed path on the policy host.
export const POLICY_PATH = '/.well-known/mta-sts.txt';

// RFC 8461 §3.2: the policy is served as text/plain.
const POLICY_CONTENT_TYPE = 'text/plain; charset=utf-8';
const NOT_FOUND = '404 not found\n';
const METHOD_NOT_ALLOWED = '405 method not allowed\n';
const MISDIRECTED = '421 misdirected request\n';
/**
 * Every body here is ASCII. Node joins a string body to the headers before it writes them; a
 * Buffer body would be written after them as a chunk of its own.
 */
const BODY_ENCODING = 'latin1';

export interface PolicyResponderOptions {
  /** Read on every request, so a config reload is a single reference swap. */
  policies: () => PolicySet;
  recordFetch: FetchRecorder;
  /** Sent with every answer: the app's helmet headers, read once (src/server/security-headers.ts). */
  headers: Readonly<Record<string, string>>;
  /**
   * Whether the certificate served on this connection covers the policy host; absent for a
   * listener without TLS (inject() tests).
   */
  certificateCovers?: (socket: TLSSocket, host: string) => boolean;
}

/** Who asked and for which host. */
export interface Requester {
  /** The client's address, normalised: the peer's, or the one a trusted proxy forwarded. */
  ip: string;
  /** The requested host (src/server/request-target.ts). */
  host: string;
  /** The first User-Agent header; '' without one. */
  userAgent: string;
  /**
   * The client's own TLS connection carries the request. A trusted proxy's connection is its
   * own (nginx sends no SNI upstream by default), so its requests are not held to the certificate.
   */
  direct: boolean;
}

export type PolicyResponder = (request: IncomingMessage, response: ServerResponse, requester: Requester) => void;

/**
 * Answers any request for the policy path: the domain's policy to GET and HEAD on
 * `mta-sts.<domain>`, 404 for other hosts, 405 for other methods, 421 when the connection's
 * certificate does not cover the host; then records the fetch. It writes the response itself,
 * with headers prepared once, because this is the one request that matters and the one that
 * arrives in volume.
 */
export function createPolicyResponder({
  policies,
  recordFetch,
  headers,
  certificateCovers,
}: PolicyResponderOptions): PolicyResponder {
  const fixedHeaders = Object.entries(headers).flat();
  // The headers of the last body answered, for the next answer with it: a policy's body is one
  // string for as long as it is served, and most hosts serve one policy.
  let lastBody: string | undefined;
  let lastBodyHeaders: string[] = [];
  const headersFor = (body: string): string[] => {
    if (body !== lastBody) {
      lastBodyHeaders = [...fixedHeaders, 'content-type', POLICY_CONTENT_TYPE, 'content-length', String(body.length)];
      lastBody = body;
    }
    return lastBodyHeaders;
  };
  return (request, response, { ip, host, userAgent, direct }) => {
    const started = performance.now();
    const served = policies().forHost(host);
    const method = request.method ?? '';
    const misdirected = served !== undefined && direct && certificateCovers?.(request.socket as TLSSocket, served.host) === false;
    let status: number;
    let body: string;
    if (misdirected) {
      // RFC 9110 §15.5.20: this connection cannot answer for that host (SNI for one domain, Host
      // for another, or no SNI); the client may retry on a connection made for the host.
      [status, body] = [421, MISDIRECTED];
    } else if (method !== 'GET' && method !== 'HEAD') {
      [status, body] = [405, METHOD_NOT_ALLOWED];
    } else if (served) {
      // RFC 8461 §3.3: HTTP 200 only, never a redirect; the body is exactly the rendered policy.
      [status, body] = [200, served.body];
    } else {
      [status, body] = [404, NOT_FOUND];
    }
    response.writeHead(status, status === 405 ? [...headersFor(body), 'allow', 'GET, HEAD'] : headersFor(body));
    if (method === 'HEAD') response.end();
    else response.end(body, BODY_ENCODING);
    recordFetch({
      host,
      // A misdirected request is not a fetch of the domain's policy: it is logged like one for a host we do not serve.
      domain: misdirected ? null : (served?.domain ?? null),
      ip,
      ua: userAgent,
      method,
      status,
      policyId: status === 200 ? served!.id : null,
      tls: connectionOf(request.socket).tls,
      responseMs: performance.now() - started,
    });
  };
}

/** What every request on a connection shares, read once per connection: keep-alive requests ask again and again. */
interface Connection {
  /** The peer's address as the socket gives it. */
  peer: string;
  /** The same, normalised (src/net/ip-address.ts). */
  ip: string;
  /** Negotiated TLS version, e.g. "TLSv1.3"; null over plain HTTP. */
  tls: string | null;
}

const connections = new WeakMap<Socket, Connection>();

function connectionOf(socket: Socket): Connection {
  let connection = connections.get(socket);
  if (connection === undefined) {
    const peer = socket.remoteAddress ?? '';
    connection = { peer, ip: normaliseIp(peer), tls: (socket as Partial<TLSSocket>).getProtocol?.() ?? null };
    connections.set(socket, connection);
  }
  return connection;
}

type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * The listener's request handler: a plain request for the policy path is answered directly,
 * everything else (and anything that needs Fastify's judgement: a trusted proxy's forwarded
 * address, an ambiguous Host, a target other than the bare policy path) goes to Fastify.
 * Skipping Fastify's routing, hooks and reply objects here is what keeps the policy within
 * reach of a bare node:https server.
 */
export function withPolicyFastPath(
  respond: PolicyResponder,
  trustProxy: (address: string) => boolean,
  fastify: RequestHandler,
): RequestHandler {
  return (request, response) => {
    if (request.url !== POLICY_PATH) {
      fastify(request, response);
      return;
    }
    const connection = connectionOf(request.socket);
    const headers = trustProxy(connection.peer) ? undefined : hostAndAgentOf(request.rawHeaders);
    const target = headers && parseRequestTarget(POLICY_PATH, headers.host);
    if (!target?.ok) {
      // Fastify answers 400 for an ambiguous Host or a malformed one.
      fastify(request, response);
      return;
    }
    respond(request, response, { ip: connection.ip, host: target.host, userAgent: headers!.userAgent, direct: true });
  };
}
