import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestTarget } from './request-target.js';

/** A request's Host and User-Agent headers, as Node's `request.headers` would give them (the first of each). */
export interface HostAndAgent {
  host: string | undefined;
  /** '' without the header. */
  userAgent: string;
}

/**
 * The Host and User-Agent headers, read in one pass over the raw headers (the policy fast path
 * needs no other, and `request.headers` would build an object of them all); undefined for an
 * ambiguous request. Node keeps the first of several Host headers and drops the rest, which
 * would let a client be served a policy for a host it did not unambiguously ask for: RFC 7230
 * §5.4, a request with more than one Host header field is answered 400.
 */
export function hostAndAgentOf(rawHeaders: readonly string[]): HostAndAgent | undefined {
  let host: string | undefined;
  let userAgent: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (host !== undefined) return undefined;
      host = rawHeaders[i + 1]!;
    } else if (userAgent === undefined && name.length === 10 && name.toLowerCase() === 'user-agent') {
      userAgent = rawHeaders[i + 1]!;
    }
  }
  return { host, userAgent: userAgent ?? '' };
}

/** 400 for a request that does not name one host clearly: several Host headers, or a malformed target or Host (RFC 9112 §3.2). */
export function rejectUnclearHost(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const problem = !hostAndAgentOf(request.raw.rawHeaders)
    ? 'more than one Host header'
    : requestTarget(request.raw).ok
      ? undefined
      : 'malformed request target or Host header';
  if (problem === undefined) return done();
  reply.code(400).type('text/plain; charset=utf-8').header('connection', 'close').send(`400 bad request: ${problem}\n`);
}
