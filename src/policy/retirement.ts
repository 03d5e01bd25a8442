import type { DomainPolicy, PolicyMode } from './policy.js';

/** One policy as a domain served it: what senders may have cached from it, and until when. */
export interface ServedPolicyRecord {
  readonly id: string;
  readonly mode: PolicyMode;
  /** Seconds, as served. */
  readonly maxAge: number;
  readonly body: string;
  /** Epoch milliseconds. */
  readonly firstServed: number;
  readonly lastServed: number;
}

/** Every policy a domain has served, oldest first. */
export interface DomainHistory {
  readonly domain: string;
  readonly policies: readonly ServedPolicyRecord[];
}

/**
 * While a policy is served, its last-served time is stored at most this often, so the record can
 * be this much behind the truth after a crash; the end of every cache is counted from it plus this.
 */
export const SERVED_RECORD_INTERVAL_MS = 60 * 60_000;

/** Records kept per domain; beyond it the oldest whose caches have all expired go first. */
export const HISTORY_LIMIT = 100;

/** The `max_age` of a retirement policy: a day, so that senders look again soon after it is gone. */
export const RETIREMENT_MAX_AGE = 86_400;

/** What a served policy leaves in the history. */
export interface ServedPolicyFacts {
  readonly id: string;
  readonly mode: PolicyMode;
  readonly maxAge: number;
  readonly body: string;
}

/**
 * When the last sender's cached `testing` or `enforce` policy of the domain expires; undefined when
 * the domain never served one. RFC 8461 §5.1: a sender keeps a fetched policy for max_age
 * seconds, and may have fetched it at the last moment it was served.
 */
export function lastCachedUntil(history: DomainHistory): number | undefined {
  let until: number | undefined;
  for (const record of history.policies) {
    if (record.mode === 'none') continue;
    const end = cacheEnd(record);
    if (until === undefined || end > until) until = end;
  }
  return until;
}

function cacheEnd(record: ServedPolicyRecord): number {
  return record.lastServed + SERVED_RECORD_INTERVAL_MS + record.maxAge * 1000;
}

/**
 * RFC 8461 §8.3: a domain leaving MTA-STS publishes `mode: none` under a new id, and keeps serving
 * it until every policy senders may have cached has expired.
 */
export function retirementPolicy(domain: string): DomainPolicy {
  return { name: domain, policy: { mode: 'none', mx: [], maxAge: RETIREMENT_MAX_AGE }, tlsRptRua: [] };
}

/**
 * The history after serving `served` at `now`: the same policy as last time extends its record,
 * a new one starts a record. Records whose caches have expired are dropped, oldest first, once
 * there are more than HISTORY_LIMIT; a record that still bounds a cache is never dropped.
 */
export function recordServed(history: DomainHistory, served: ServedPolicyFacts, now: number): DomainHistory {
  const last = history.policies.at(-1);
  // Every served domain passes here at each start, reload and hour: one copy of its records, no more.
  const policies = history.policies.slice();
  if (last?.id === served.id) policies[policies.length - 1] = { ...last, lastServed: now };
  else policies.push({ ...served, firstServed: now, lastServed: now });
  let excess = policies.length - HISTORY_LIMIT;
  if (excess <= 0) return { domain: history.domain, policies };
  const kept = policies.filter((record) => !(excess > 0 && cacheEnd(record) <= now && excess-- > 0));
  return { domain: history.domain, policies: kept };
}

/** A domain removed from the config that is still served, as `mode: none`, until `until` (epoch ms). */
export interface Retirement {
  readonly domain: string;
  readonly until: number;
}

/**
 * The removed domains to serve as `mode: none` at `now`: those whose history holds a `testing` or
 * `enforce` policy that some sender may still have cached (RFC 8461 §8.3), by name.
 */
export function retirementsAt(configured: ReadonlySet<string>, histories: Iterable<DomainHistory>, now: number): Retirement[] {
  const retiring: Retirement[] = [];
  for (const history of histories) {
    if (configured.has(history.domain)) continue;
    const until = lastCachedUntil(history);
    if (until !== undefined && until > now) retiring.push({ domain: history.domain, until });
  }
  return retiring.sort((a, b) => (a.domain < b.domain ? -1 : 1));
}
