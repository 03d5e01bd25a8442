import { isCountedFetch, UNKNOWN_PROVIDER } from './fetch-statistics.js';

/** One `policy_fetch` log line, as written by the fetch log (the fields `who` reads). */
export interface FetchLine {
  time: string;
  domain: string | null;
  ip: string;
  provider: string;
  provider_claimed: string | null;
  method: string;
  status: number;
  policy_id: string | null;
}

/** One `policy_fetch_ptr` line: the verdict for a fetch once its reverse DNS is known. */
export interface PtrLine {
  time: string;
  domain: string | null;
  ip: string;
  ptr: string | null;
  provider: string;
  contradicted: boolean;
}

export interface ProviderSummary {
  provider: string;
  fetches: number;
  addresses: number;
  lastSeen: string;
  lastPolicyId: string | null;
  /** Fetches whose user agent claimed another provider than the evidence showed. */
  contradicted: number;
}

interface ProviderEntry {
  fetches: number;
  /** Fetches per address, so that a fetch moved to another provider takes its address along. */
  addresses: Map<string, number>;
  lastSeen: string;
  lastPolicyId: string | null;
  contradicted: number;
}

/** The service gives up on reverse DNS after reverse_dns.timeout_ms, at most 30 s; its line comes before this. */
const PTR_WAIT_MS = 60_000;

/**
 * Per-provider totals over a stream of log lines, for `mta-sts-server who`: the fetches the
 * statistics count (isCountedFetch), each under the provider the statistics count it for. A fetch
 * the first line leaves `unknown` moves to the provider its reverse DNS line names.
 */
export class FetchSummary {
  private readonly byProvider = new Map<string, ProviderEntry>();
  /** Requests from unknown senders, oldest first, whose reverse DNS line may still come. */
  private awaitingPtr: { line: FetchLine; counted: boolean }[] = [];

  /** Adds a request's line; returns whether it counts as a fetch (a HEAD, an error or another host does not). */
  add(line: FetchLine): boolean {
    const counted = isCountedFetch({ method: line.method, domain: line.domain, policyId: line.policy_id });
    if (counted) this.count(line.provider, line);
    this.forgetOlderThan(line.time);
    // Every request from a public address gets a reverse DNS line, counted or not: keep them paired.
    if (line.provider === UNKNOWN_PROVIDER) this.awaitingPtr.push({ line, counted });
    return counted;
  }

  /** Applies a reverse DNS verdict; returns the counted fetch it moved to another provider, if it did. */
  addPtr(line: PtrLine): FetchLine | undefined {
    this.forgetOlderThan(line.time);
    // Each request from a public address gets one such line, in order per address.
    const index = this.awaitingPtr.findIndex(({ line: fetch }) => fetch.domain === line.domain && fetch.ip === line.ip);
    if (index < 0) return undefined;
    const [{ line: fetch, counted }] = this.awaitingPtr.splice(index, 1);
    if (!counted || line.provider === UNKNOWN_PROVIDER) return undefined;
    this.uncount(UNKNOWN_PROVIDER, fetch);
    const moved = { ...fetch, provider: line.provider, provider_claimed: line.contradicted ? fetch.provider_claimed : null };
    this.count(line.provider, moved);
    return moved;
  }

  /** Most fetches first. */
  rows(): ProviderSummary[] {
    return [...this.byProvider.entries()]
      .map(([provider, entry]) => ({
        provider,
        fetches: entry.fetches,
        addresses: entry.addresses.size,
        lastSeen: entry.lastSeen,
        lastPolicyId: entry.lastPolicyId,
        contradicted: entry.contradicted,
      }))
      .sort((a, b) => b.fetches - a.fetches || a.provider.localeCompare(b.provider));
  }

  private count(provider: string, line: FetchLine): void {
    let entry = this.byProvider.get(provider);
    if (!entry) {
      entry = { fetches: 0, addresses: new Map(), lastSeen: line.time, lastPolicyId: null, contradicted: 0 };
      this.byProvider.set(provider, entry);
    }
    entry.fetches++;
    entry.addresses.set(line.ip, (entry.addresses.get(line.ip) ?? 0) + 1);
    if (line.time >= entry.lastSeen) entry.lastSeen = line.time;
    if (line.policy_id !== null) entry.lastPolicyId = line.policy_id;
    if (line.provider_claimed !== null) entry.contradicted++;
  }

  /** Takes a fetch back out of a provider's totals (its last-seen time and policy id stay as they were). */
  private uncount(provider: string, line: FetchLine): void {
    const entry = this.byProvider.get(provider)!;
    if (--entry.fetches === 0) {
      this.byProvider.delete(provider);
      return;
    }
    const left = entry.addresses.get(line.ip)! - 1;
    if (left === 0) entry.addresses.delete(line.ip);
    else entry.addresses.set(line.ip, left);
    if (line.provider_claimed !== null) entry.contradicted--;
  }

  private forgetOlderThan(time: string): void {
    const cutoff = Date.parse(time) - PTR_WAIT_MS;
    const stale = this.awaitingPtr.findIndex(({ line }) => Date.parse(line.time) >= cutoff);
    this.awaitingPtr = stale < 0 ? [] : this.awaitingPtr.slice(stale);
  }
}

/** A log line as a fetch or a reverse DNS verdict, or undefined for anything else (other events, pretty-printed or foreign lines). */
export function parseLogLine(text: string): { fetch: FetchLine } | { ptr: PtrLine } | undefined {
  if (!text.startsWith('{')) return undefined;
  let line: Record<string, unknown>;
  try {
    line = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof line.provider !== 'string' || typeof line.ip !== 'string') return undefined;
  const time = String(line.time ?? '');
  const domain = typeof line.domain === 'string' ? line.domain : null;
  if (line.event === 'policy_fetch') {
    return {
      fetch: {
        time,
        domain,
        ip: line.ip,
        provider: line.provider,
        provider_claimed: typeof line.provider_claimed === 'string' ? line.provider_claimed : null,
        method: typeof line.method === 'string' ? line.method : '',
        status: Number(line.status),
        policy_id: typeof line.policy_id === 'string' ? line.policy_id : null,
      },
    };
  }
  if (line.event === 'policy_fetch_ptr') {
    return {
      ptr: {
        time,
        domain,
        ip: line.ip,
        ptr: typeof line.ptr === 'string' ? line.ptr : null,
        provider: line.provider,
        contradicted: line.contradicted === true,
      },
    };
  }
  return undefined;
}
