import type { IncomingMessage } from 'node:http';

/**
 * The host and path a request names. `host` is lower case, without port or trailing dot, so it
 * can be looked up as it is; `path` is the origin-form path and query that routes the request.
 */
export type RequestTarget = { readonly ok: true; readonly host: string; readonly path: string } | { readonly ok: false };

// RFC 3986 §3.2: host is a reg-name or an IP-literal in brackets, and an optional port follows.
// A reg-name is unreserved, pct-encoded or sub-delims characters; RFC 9110 §4.2.1 forbids an empty one for http(s).
const AUTHORITY = /^([a-z0-9\-._~!$&'()*+,;=%]+|\[[0-9a-f:.]+\])(?::[0-9]*)?$/i;
// RFC 9112 §3.2.2: absolute-form is an absolute-URI (no fragment); only http and https name a resource of ours.
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)$/i;

/**
 * Decides which host a request names (RFC 9112 §3.2): the Host header for origin-form targets
 * (`GET /path`), the target's authority for absolute-form ones (`GET https://host/path`), for
 * which RFC 9112 §3.2.2 says an origin server MUST ignore Host. Proxy headers such as
 * X-Forwarded-Host never take part: a client must not pick which domain's policy it is served.
 * Not ok (answered 400) when the target or the Host header is not a valid authority.
 */
export function parseRequestTarget(url: string, hostHeader: string | undefined): RequestTarget {
  // RFC 9112 §3.2.1 origin-form (what nearly every client sends), and §3.2.4 asterisk-form.
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') {
    // RFC 9112 §3.2: a Host header with an invalid value is answered 400. An empty one names no host.
    if (hostHeader === undefined || hostHeader === '') return { ok: true, host: '', path: url };
    const host = hostOfAuthority(hostHeader);
    return host === undefined ? { ok: false } : { ok: true, host, path: url };
  }
  const absolute = ABSOLUTE_FORM.exec(url);
  if (!absolute) return { ok: false };
  const host = hostOfAuthority(absolute[1]!);
  if (host === undefined) return { ok: false };
  const rest = absolute[2]!;
  return { ok: true, host, path: rest.charCodeAt(0) === 47 /* / */ ? rest : `/${rest}` };
}

// The last authority read and its host: requests for one policy host name it the same way each time.
let lastAuthority = '';
let lastHost: string | undefined;

/** The host of `host[:port]`, normalised; undefined when it is not a valid authority (also userinfo, RFC 9110 §4.2.4). */
function hostOfAuthority(authority: string): string | undefined {
  if (authority === lastAuthority) return lastHost;
  const match = AUTHORITY.exec(authority);
  const lowerCase = match?.[1]!.toLowerCase();
  lastHost = lowerCase?.endsWith('.') ? lowerCase.slice(0, -1) : lowerCase;
  lastAuthority = authority;
  return lastHost;
}

const targets = new WeakMap<IncomingMessage, RequestTarget>();

/**
 * The request's target, decided once per request: Fastify's rewriteUrl calls this before
 * routing (and then routes by the origin-form path), and every route asks again for the host.
 */
export function requestTarget(request: IncomingMessage): RequestTarget {
  let target = targets.get(request);
  if (target === undefined) {
    target = parseRequestTarget(request.url ?? '', request.headers.host);
    targets.set(request, target);
  }
  return target;
}

/** The requested host of a request whose target was accepted; '' otherwise. */
export function requestedHost(request: IncomingMessage): string {
  const target = requestTarget(request);
  return target.ok ? target.host : '';
}
