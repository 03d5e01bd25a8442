import type { Logger } from 'pino';
import type { ProviderClassifier, ProviderVerdict } from './providers.js';

/** What the server knows about one request for the policy path, before attribution. */
export interface PolicyFetch {
  /** The Host the client asked for, normalised; '' when it named no policy host we serve. */
  host: string;
  /** The policy domain, or null when the host is not one of ours. */
  domain: string | null;
  /** Client address after trusted-proxy handling, IPv4-mapped IPv6 shown as IPv4. */
  ip: string;
  ua: string;
  method: string;
  status: number;
  policyId: string | null;
  /** Negotiated TLS version, e.g. "TLSv1.3"; null over plain HTTP. */
  tls: string | null;
  responseMs: number;
}

export type FetchRecorder = (fetch: PolicyFetch) => void;

/**
 * One JSON line per policy request on the service log, with stable field names
 * (`event: "policy_fetch"`); the README documents them and `jq` recipes rely on them.
 */
export function createFetchLog(
  log: Logger,
  classifier: ProviderClassifier,
  /** Told of every attributed fetch after it is logged (metrics, statistics). */
  observe?: (fetch: PolicyFetch, verdict: ProviderVerdict) => void,
): FetchRecorder {
  return (fetch) => {
    const verdict = classifier.classify(fetch.ip, fetch.ua);
    log.info({
      event: 'policy_fetch',
      domain: fetch.domain,
      host: fetch.host,
      ip: fetch.ip,
      ua: fetch.ua,
      provider: verdict.provider,
      provider_evidence: verdict.evidence,
      provider_claimed: verdict.claimed ?? null,
      method: fetch.method,
      status: fetch.status,
      policy_id: fetch.policyId,
      tls: fetch.tls,
      response_ms: Math.round(fetch.responseMs * 1000) / 1000,
    });
    observe?.(fetch, verdict);
  };
}
