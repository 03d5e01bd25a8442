import type { FastifyError, FastifyPluginCallback } from 'fastify';
import type { PolicySet } from '../policy/policy-set.js';
import { REPORT_MEDIA_TYPES } from '../reports/decode.js';
import type { ReportIntake } from '../reports/intake.js';
import { ReportStoreUnavailableError } from '../storage/tls-report-store.js';
import { requestedHost } from './request-target.js';

// RFC 8460 §3: the https: rua this server publishes, https://mta-sts.<domain>/tlsrpt.
export const TLSRPT_PATH = '/tlsrpt';

/** Seconds a sender is asked to wait before retrying when the store is unavailable. */
const RETRY_AFTER_SECONDS = 300;

export interface TlsRptRoutesOptions {
  intake: ReportIntake;
  policies: () => PolicySet;
  /** The largest body accepted, compressed (reports.https.max_body_bytes). */
  maxBodyBytes: number;
}

/** What the policy listener needs to offer POST /tlsrpt; the policies are its own. */
export type TlsRptEndpoint = Omit<TlsRptRoutesOptions, 'policies'>;

const text = (status: number, message: string) => ({ status, body: `${status} ${message}\n` });

/**
 * POST /tlsrpt on a policy host (RFC 8460 §3): 201 when the report is stored, 200 when it was
 * already (a sender's retry), 400 when it is malformed or for a domain not served, 413 over the
 * body limit, 415 for another media type, 503 with Retry-After when the store cannot write.
 * Only this route's scope parses bodies: the policy path stays on the listener's fast path.
 */
export const tlsRptRoutes: FastifyPluginCallback<TlsRptRoutesOptions> = (app, { intake, policies, maxBodyBytes }, done) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...REPORT_MEDIA_TYPES], { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, parsed) =>
    parsed(null, body),
  );
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const answer =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? text(413, `report larger than ${maxBodyBytes} bytes`)
        : error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || error.code === 'FST_ERR_CTP_EMPTY_TYPE'
          ? text(415, `unsupported media type; send ${REPORT_MEDIA_TYPES.join(' or ')}`)
          : (error.statusCode ?? 500) < 500
            ? text(error.statusCode!, 'bad request')
            : text(500, 'internal error');
    if (answer.status === 500) reply.log.error({ event: 'tlsrpt_error', error: error.message }, 'TLS report request failed');
    return reply.code(answer.status).type('text/plain; charset=utf-8').send(answer.body);
  });

  app.post<{ Body: Buffer }>(
    TLSRPT_PATH,
    {
      schema: {
        headers: { type: 'object', properties: { 'content-type': { type: 'string' } }, required: ['content-type'] },
      },
    },
    async (request, reply) => {
      const answer = (status: number, message: string) =>
        reply.code(status).type('text/plain; charset=utf-8').send(`${status} ${message}\n`);
      if (policies().forHost(requestedHost(request.raw)) === undefined) return answer(404, 'not found');
      const mediaType = request.headers['content-type'] ?? '';
      try {
        const result = await intake.receiveReport(request.body, mediaType, 'https');
        if (result.outcome === 'rejected') return answer(400, `report rejected: ${result.reason}`);
        return answer(
          result.outcome === 'stored' ? 201 : 200,
          result.outcome === 'stored' ? 'report stored' : 'report already stored',
        );
      } catch (error) {
        if (!(error instanceof ReportStoreUnavailableError)) throw error;
        reply.header('retry-after', String(RETRY_AFTER_SECONDS));
        return answer(503, 'report not stored now; retry later');
      }
    },
  );
  app.route({
    method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: TLSRPT_PATH,
    handler: (_request, reply) =>
      reply.code(405).header('allow', 'POST').type('text/plain; charset=utf-8').send('405 method not allowed\n'),
  });
  done();
};
