import type { Logger } from 'pino';
import { UNKNOWN_PROVIDER, type ProviderClassifier, type ProviderVerdict } from './providers.js';
import { IpRangeTable } from '../net/ip-ranges.js';
import type { LogLimit } from './log-limit.js';
import type { ReverseDns } from './reverse-dns.js';
import { loggable } from '../text/printable.js';
import { infoLineWriter, jsonMilliseconds, jsonString } from '../log/log-line.js';

/** What the server knows about one request for the policy path, before attribution. */
export interface PolicyFetch {
  /** The requested host (Host, or the absolute-form target's authority), lower case, without port. */
  host: string;
  /** The policy domain, or null when the host is not one of ours or the request was misdirected (421). */
  domain: string | null;
  /** Client address after trusted-proxy handling (src/server/client-address.ts), IPv4-mapped IPv6 shown as IPv4. */
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

/** Who fetched, once all the evidence is in: the address and user agent, then confirmed reverse DNS if it was looked up. */
export interface Attribution {
  provider: string;
  /** The user agent claimed a provider the evidence does not confirm. */
  claimed: boolean;
}

export interface FetchLogOptions {
  /** Told of every fetch as soon as it is logged, with the verdict from address and user agent (metrics). */
  observe?: (fetch: PolicyFetch, verdict: ProviderVerdict) => void;
  /** When set, each fetch from a public address gets a second line once its reverse DNS is known. */
  reverseDns?: ReverseDns;
  /** Told of every fetch once attribution is final: at once, or when its reverse DNS answers (statistics). */
  attributed?: (fetch: PolicyFetch, attribution: Attribution) => void;
  /** Bounds the lines of requests that are not policy fetches of our domains; those are never dropped. */
  limit?: LogLimit;
}

/** A sender taking a domain's policy home, or checking it: what the log always shows, whatever the rate. */
function isPolicyFetch(fetch: PolicyFetch): boolean {
  return fetch.status === 200 && fetch.domain !== null && (fetch.method === 'GET' || fetch.method === 'HEAD');
}

/**
 * One JSON line per policy request on the service log, with stable field names
 * (`event: "policy_fetch"`); the README documents them and `jq` recipes rely on them. What a
 * client sent (host, user agent) and what a reverse-DNS server answered are cut and escaped
 * (src/text/printable.ts) before they reach the line.
 */
export function createFetchLog(log: Logger, classifier: () => ProviderClassifier, options: FetchLogOptions = {}): FetchRecorder {
  const { observe, reverseDns, attributed, limit } = options;
  const writeLine = infoLineWriter(log);
  // A burst from one client (keep-alive, a monitor, a flood) repeats the request before it: its
  // verdict and line fields are taken over rather than worked out again.
  let previous: { fetch: PolicyFetch; by: ProviderClassifier; verdict: ProviderVerdict; fields: string } | undefined;
  return (fetch) => {
    // Asked per fetch: a provider refresh replaces the classifier while the service runs.
    const current = classifier();
    const repeated = previous?.by === current && sameRequest(previous.fetch, fetch) ? previous : undefined;
    const verdict = repeated?.verdict ?? current.classify(fetch.ip, fetch.ua);
    if (limit && !isPolicyFetch(fetch) && !limit.admit(fetch.ip)) {
      // Counted by the metrics, not written; no reverse DNS line either, so none comes without its fetch line.
      observe?.(fetch, verdict);
      return;
    }
    const fields = repeated?.fields ?? requestFields(fetch, verdict);
    previous = { fetch, by: current, verdict, fields };
    writeLine(`${fields}${jsonMilliseconds(fetch.responseMs)}`);
    observe?.(fetch, verdict);
    if (!reverseDns || !isPublicAddress(fetch.ip)) {
      attributed?.(fetch, { provider: verdict.provider, claimed: verdict.claimed !== undefined });
      return;
    }
    void reverseDns.lookup(fetch.ip).then((result) => {
      const ptrProvider = result.confirmed && result.ptr ? (classifier().providerOfHostname(result.ptr) ?? null) : null;
      // The address and user agent decide; a confirmed name only fills in an address no range covers.
      const provider = verdict.provider !== UNKNOWN_PROVIDER ? verdict.provider : (ptrProvider ?? UNKNOWN_PROVIDER);
      const claimed = verdict.claimed !== undefined && verdict.claimed !== provider;
      const ptrAgrees = ptrProvider !== null && ptrProvider === provider;
      log.info({
        event: 'policy_fetch_ptr',
        domain: fetch.domain,
        ip: fetch.ip,
        ptr: result.ptr === null ? null : loggable(result.ptr),
        ptr_confirmed: result.confirmed,
        ptr_provider: ptrProvider,
        provider,
        // The first line's evidence, with "ptr" added when the confirmed name names the same provider.
        provider_evidence: ptrAgrees ? (verdict.evidence === 'none' ? 'ptr' : `${verdict.evidence}+ptr`) : verdict.evidence,
        // The evidence disagrees: a user agent or a confirmed name of another provider than the verdict.
        contradicted: claimed || (ptrProvider !== null && ptrProvider !== provider),
        ...(result.error && { ptr_error: result.error }),
      });
      attributed?.(fetch, { provider, claimed });
    });
  };
}

/** Everything about two requests that their lines and attribution show but the response time. */
function sameRequest(one: PolicyFetch, other: PolicyFetch): boolean {
  return (
    one.ip === other.ip &&
    one.ua === other.ua &&
    one.host === other.host &&
    one.domain === other.domain &&
    one.method === other.method &&
    one.status === other.status &&
    one.policyId === other.policyId &&
    one.tls === other.tls
  );
}

/**
 * The policy_fetch line's fields as JSON text in the README's order, what `log.info` of them would
 * write, up to the last one's value: the response time, which the caller appends.
 */
function requestFields(fetch: PolicyFetch, verdict: ProviderVerdict): string {
  return (
    `"event":"policy_fetch","domain":${jsonString(fetch.domain)},"host":${jsonString(loggable(fetch.host))},` +
    `"ip":${jsonString(fetch.ip)},"ua":${jsonString(loggable(fetch.ua))},"provider":${jsonString(verdict.provider)},` +
    `"provider_evidence":${jsonString(verdict.evidence)},"provider_claimed":${jsonString(verdict.claimed ?? null)},` +
    `"method":${jsonString(fetch.method)},"status":${fetch.status},"policy_id":${jsonString(fetch.policyId)},` +
    `"tls":${jsonString(fetch.tls)},"response_ms":`
  );
}

/** Loopback, private and link-local addresses: their reverse DNS says nothing about a mail provider. */
const NOT_PUBLIC = new IpRangeTable<true>();
for (const range of [
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '100.64.0.0/10',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
]) {
  NOT_PUBLIC.add(range, true);
}

function isPublicAddress(ip: string): boolean {
  return NOT_PUBLIC.lookup(ip) === undefined;
}
