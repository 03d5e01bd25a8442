import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestTarget } from './request-target.js';

/**
 * Node keeps the first of several Host headers and drops the rest, which would let a client
 * be served a policy for a host it did not unambiguously ask for. RFC 7230 §5.4: a request
 * with more than one Host header field is answered 400.
 */
export function hasAmbiguousHost(rawHeaders: readonly string[]): boolean {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  return hosts > 1;
}

/** 400 for a request that does not name one host clearly: several Host headers, or a malformed target or Host (RFC 9112 §3.2). */
export function rejectUnclearHost(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const problem = hasAmbiguousHost(request.raw.rawHeaders)
    ? 'more than one Host header'
    : requestTarget(request.raw).ok
      ? undefined
      : 'malformed request target or Host header';
  if (problem === undefined) return done();
  reply.code(400).type('text/plain; charset=utf-8').header('connection', 'close').send(`400 bad request: ${problem}\n`);
}
