import type { FastifyReply, FastifyRequest } from 'fastify';

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

export function rejectAmbiguousHost(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (hasAmbiguousHost(request.raw.rawHeaders)) {
    reply
      .code(400)
      .type('text/plain; charset=utf-8')
      .header('connection', 'close')
      .send('400 bad request: more than one Host header\n');
    return;
  }
  done();
}
