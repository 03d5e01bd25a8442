import { isCountedFetch } from './fetch-statistics.js';
import { UNKNOWN_PROVIDER } from './providers.js';

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

/**
 * A fetch's reverse DNS line comes within 2 × reverse_dns.timeout_ms (a turn in the lookup queue,
 * then the lookup), at most 60 s; this leaves room for a busy service's late timers.
 */
const PTR_WAIT_MS = 90_000;

/** A request whose reverse DNS line may still come. */
interface AwaitingPtr {
  line: FetchLine;
  counted: boolean;
  timeMs: number;
  /** Its reverse DNS line came, or it waited too long. */
  settled: boolean;
}

/**
 * Per-provider totals over a stream of log lines, for `mta-sts-server who`: the fetches the
 * statistics count (isCountedFetch), each under the provider the statistics count it for. A fetch
 * the first line leaves `unknown` moves to the provider its reverse DNS line names. Each line
 * costs the same however many requests wait for their reverse DNS: `who` keeps up with a busy log.
 */
export class FetchSummary {
  private readonly byProvider = new Map<string, ProviderEntry>();
  /** Requests from unknown senders, in log order, whose reverse DNS line may still come. */
  private readonly awaitingPtr = new Queue<AwaitingPtr>();
  /** The same requests by domain and address, oldest first: where a reverse DNS line finds its fetch. */
  private readonly awaitingByAddress = new Map<string, Queue<AwaitingPtr>>();

  /** Adds a request's line; returns whether it counts as a fetch (a HEAD, an error or another host does not). */
  add(line: FetchLine): boolean {
    const counted = isCountedFetch({ method: line.method, domain: line.domain, policyId: line.policy_id });
    if (counted) this.count(line.provider, line);
    this.forgetOlderThan(line.time);
    // Every request from a public address gets a reverse DNS line, counted or not: keep them paired.
    if (line.provider === UNKNOWN_PROVIDER) {
      const awaiting = { line, counted, timeMs: Date.parse(line.time), settled: false };
      this.awaitingPtr.push(awaiting);
      const key = addressKey(line);
      let sameAddress = this.awaitingByAddress.get(key);
      if (!sameAddress) this.awaitingByAddress.set(key, (sameAddress = new Queue()));
      sameAddress.push(awaiting);
    }
    return counted;
  }

  /** Applies a reverse DNS verdict; returns the counted fetch it moved to another provider, if it did. */
  addPtr(line: PtrLine): FetchLine | undefined {
    this.forgetOlderThan(line.time);
    // Each request from a public address gets one such line, in order per address: the oldest waiting is its fetch.
    const awaiting = this.takeOldest(addressKey(line));
    if (!awaiting) return undefined;
    const { line: fetch, counted } = awaiting;
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

  /** Stops waiting for the requests at the front of the log order that are older than PTR_WAIT_MS before `time`. */
  private forgetOlderThan(time: string): void {
    const cutoff = Date.parse(time) - PTR_WAIT_MS;
    for (let oldest = this.awaitingPtr.peek(); oldest !== undefined; oldest = this.awaitingPtr.peek()) {
      // Not `< cutoff`: an unreadable time (NaN) on either side is forgotten, as nothing can be paired with it.
      if (!oldest.settled && oldest.timeMs >= cutoff) return;
      this.awaitingPtr.shift();
      // Unless its reverse DNS line came, it is the oldest waiting one at its address: everything before it went first.
      if (!oldest.settled) this.takeOldest(addressKey(oldest.line));
    }
  }

  private takeOldest(key: string): AwaitingPtr | undefined {
    const sameAddress = this.awaitingByAddress.get(key);
    const oldest = sameAddress?.shift();
    if (sameAddress?.peek() === undefined) this.awaitingByAddress.delete(key);
    if (oldest) oldest.settled = true;
    return oldest;
  }
}

/** One key per domain (or none) and address, whatever text a log holds. */
const addressKey = (line: { domain: string | null; ip: string }) => JSON.stringify([line.domain, line.ip]);

/** First in, first out, each step O(1): an array read from a moving head, compacted once the head has passed half of it. */
class Queue<T> {
  private items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
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
