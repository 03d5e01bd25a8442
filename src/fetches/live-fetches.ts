import type { Attribution, PolicyFetch } from './fetch-log.js';
import type { FetchSink } from './pipeline.js';

/** One request for the policy path as the dashboard's live view shows it (the fields of a `who` line). */
export interface LiveFetch {
  /** ISO 8601, when its attribution became final. */
  at: string;
  domain: string | null;
  host: string;
  ip: string;
  /** Exactly as the client sent it: whoever shows it must escape it. */
  user_agent: string;
  method: string;
  status: number;
  policy_id: string | null;
  provider: string;
  /** The user agent claimed a provider the evidence did not confirm. */
  claimed: boolean;
}

export type LiveFetchListener = (fetch: LiveFetch) => void;

/** A request as it is kept: the objects the pipeline already made, turned into a LiveFetch only when shown. */
interface KeptFetch {
  fetch: PolicyFetch;
  attribution: Attribution;
  atMs: number;
}

function shown({ fetch, attribution, atMs }: KeptFetch): LiveFetch {
  return {
    at: new Date(atMs).toISOString(),
    domain: fetch.domain,
    host: fetch.host,
    ip: fetch.ip,
    user_agent: fetch.ua,
    method: fetch.method,
    status: fetch.status,
    policy_id: fetch.policyId,
    provider: attribution.provider,
    claimed: attribution.claimed,
  };
}

/**
 * The latest policy requests, in memory: a ring of the last `capacity` for a page that opens, and
 * the listeners (the live view's open connections) told of each new one. Both are bounded, so a
 * flood of requests or of watchers costs a fixed amount of memory.
 */
export class LiveFetches implements FetchSink {
  private readonly ring: KeptFetch[] = [];
  private next = 0;
  private readonly listeners = new Set<LiveFetchListener>();

  constructor(
    readonly capacity: number,
    readonly maxListeners: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Every request for the policy path, once its provider is known (after reverse DNS, as `stats`
   * counts it). It runs for every fetch, so what the page shows is built only when a page asks
   * for it or watches.
   */
  attributed(fetch: PolicyFetch, attribution: Attribution): void {
    const kept = { fetch, attribution, atMs: this.now() };
    if (this.ring.length < this.capacity) this.ring.push(kept);
    else this.ring[this.next] = kept;
    this.next = (this.next + 1) % this.capacity;
    if (this.listeners.size === 0) return;
    const live = shown(kept);
    for (const listener of this.listeners) listener(live);
  }

  /** The kept requests, oldest first. */
  latest(): LiveFetch[] {
    const ordered =
      this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return ordered.map(shown);
  }

  /** Adds a listener; undefined when `maxListeners` are already listening. The function returned removes it. */
  listen(listener: LiveFetchListener): (() => void) | undefined {
    if (this.listeners.size >= this.maxListeners) return undefined;
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
  }
}
