import { request } from 'node:http';
import { handshake, type PeerCertificateFacts } from './tls-peer.js';
import { parsePolicyText } from '../policy/policy-text.js';
import type { StsPolicy } from '../policy/policy.js';

/** RFC 8461 §3.3: the policy is at this path of the policy host. */
export const POLICY_PATH = '/.well-known/mta-sts.txt';

/** Bytes of a policy body read; a real policy is a few hundred. */
const MAX_BODY_BYTES = 65_536;

export type PolicyFetch =
  | { ok: true; body: string; policy: StsPolicy; certificate: PeerCertificateFacts }
  /** `certificate` when the handshake got that far. */
  | { ok: false; reason: string; certificate?: PeerCertificateFacts };

export interface PolicyFetchOptions {
  /** The policy host, `mta-sts.<domain>`: SNI, Host, and the name the certificate must be valid for. */
  host: string;
  address: string;
  port: number;
  ca: readonly string[];
  timeoutMs: number;
}

/**
 * The policy fetched as a strict sender fetches it (RFC 8461 §3.3): HTTPS with a certificate that
 * chains to a trusted root and is valid for the policy host (RFC 8461 §3.3 and §4.2), HTTP 200 with
 * no redirect followed, media type text/plain, and a body that parses. All within `timeoutMs`.
 */
export async function fetchPolicyStrictly(options: PolicyFetchOptions): Promise<PolicyFetch> {
  let certificate: PeerCertificateFacts | undefined;
  const abort = new AbortController();
  const deadline = setTimeout(() => abort.abort(), options.timeoutMs);
  try {
    const attempt = (async (): Promise<PolicyFetch> => {
      const { socket, facts } = await handshake({
        servername: options.host,
        address: options.address,
        port: options.port,
        ca: options.ca,
        alpn: ['http/1.1'],
      });
      certificate = facts;
      abort.signal.addEventListener('abort', () => socket.destroy());
      if (facts.chainProblem !== undefined || !facts.nameMatches) {
        socket.destroy();
        const problem = facts.chainProblem ?? `the certificate is not valid for ${options.host}`;
        return { ok: false, reason: `a sender refuses the connection: ${problem}`, certificate };
      }
      return get(socket, options.host, certificate);
    })();
    const timedOut = new Promise<PolicyFetch>((resolve) =>
      abort.signal.addEventListener('abort', () =>
        resolve({ ok: false, reason: `no policy within ${options.timeoutMs} ms`, ...(certificate && { certificate }) }),
      ),
    );
    return await Promise.race([attempt, timedOut]);
  } catch (error) {
    return { ok: false, reason: (error as Error).message, ...(certificate && { certificate }) };
  } finally {
    clearTimeout(deadline);
  }
}

function get(socket: import('node:tls').TLSSocket, host: string, certificate: PeerCertificateFacts): Promise<PolicyFetch> {
  return new Promise((resolve, reject) => {
    // No agent: createConnection hands the verified socket over (an agent would open a connection of its own).
    const req = request({ createConnection: () => socket, host, path: POLICY_PATH, headers: { host } }, (response) => {
      const status = response.statusCode ?? 0;
      const fail = (reason: string) => (response.destroy(), resolve({ ok: false, reason, certificate }));
      // RFC 8461 §3.3: senders must not follow redirects; only 200 is a policy.
      if (status >= 300 && status < 400) return fail(`HTTP ${status}: a redirect, which senders do not follow (RFC 8461 §3.3)`);
      if (status !== 200) return fail(`HTTP ${status}, not 200`);
      // RFC 8461 §3.3: the policy is served as text/plain (parameters such as charset allowed).
      const mediaType = (response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (mediaType !== 'text/plain') return fail(`media type ${JSON.stringify(mediaType.slice(0, 80))}, not text/plain`);
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) return fail(`the body is longer than ${MAX_BODY_BYTES} bytes`);
        chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const parsed = parsePolicyText(body);
        resolve(
          parsed.ok
            ? { ok: true, body, policy: parsed.policy, certificate }
            : { ok: false, reason: `the policy does not parse: ${parsed.reason}`, certificate },
        );
      });
    });
    req.on('error', reject);
    req.end();
  });
}
