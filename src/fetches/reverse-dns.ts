import { Resolver } from 'node:dns/promises';
import { ipFamily } from '../net/ip-family.js';
import type { Config } from '../config/schema.js';
import { FairQueue } from './fair-queue.js';
import { ipBytes, networkOf } from '../net/ip-address.js';

export interface PtrResult {
  /** The first PTR name, lower case, or null when there is none. */
  ptr: string | null;
  /** The PTR name resolves back to the address (forward-confirmed reverse DNS). */
  confirmed: boolean;
  /**
   * Why there is no answer: the lookup timed out or failed, or it was not made because it waited
   * too long for its turn or was pushed out of a full queue.
   */
  error?: 'timeout' | 'failed' | 'busy';
}

export interface ReverseDnsOptions {
  /** DNS servers ("host" or "host:port"); the system's resolvers when empty. */
  servers: readonly string[];
  /** How long a lookup may take once started, and how long it may wait for its turn before that. */
  timeoutMs: number;
  maxInFlight: number;
  /** Lookups waiting for their turn, all networks together. */
  maxQueued: number;
  ttlMs: number;
  /** How long a lookup that failed or timed out is remembered: briefly, as the server may be back soon. */
  failureTtlMs: number;
  maxEntries: number;
}

const BUSY: PtrResult = { ptr: null, confirmed: false, error: 'busy' };

interface Waiting {
  ip: string;
  network: string;
  answer: (result: PtrResult | Promise<PtrResult>) => void;
  timer: NodeJS.Timeout;
}

/**
 * Reverse DNS for fetch attribution, kept off the request path: lookups are asynchronous,
 * bounded in time and in number, and cached by address (a sender fetches from few addresses).
 * Past `maxInFlight`, lookups wait their turn, taken round-robin between networks (/24, /64):
 * a flood from one network waits behind itself, not in front of every other sender. A lookup
 * starts within `timeoutMs` and answers within `timeoutMs` of starting, or is answered `busy`
 * (also when a full queue pushes it out: the oldest waiting lookup of the network with the most
 * waiting goes first).
 */
export class ReverseDns {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, { expires: number; readonly result: Promise<PtrResult> }>();
  private readonly inFlight = new Set<Promise<PtrResult>>();
  private readonly waiting = new FairQueue<Waiting>();

  /** The service's lookups: the configured servers and timeout, with bounds on work in flight, queued and cached. */
  static fromSettings(settings: Config['reverseDns']): ReverseDns {
    return new ReverseDns({
      servers: settings.servers,
      timeoutMs: settings.timeout_ms,
      maxInFlight: 32,
      maxQueued: 10_000,
      ttlMs: 60 * 60_000,
      failureTtlMs: 60_000,
      maxEntries: 10_000,
    });
  }

  constructor(private readonly options: ReverseDnsOptions) {
    // One try, longer than the lookup's own deadline, which is what ends a silent server's lookup.
    this.resolver = new Resolver({ timeout: options.timeoutMs * 2, tries: 1 });
    if (options.servers.length > 0) this.resolver.setServers([...options.servers]);
  }

  lookup(ip: string): Promise<PtrResult> {
    const now = Date.now();
    const cached = this.cache.get(ip);
    if (cached && cached.expires > now) return cached.result;
    const result = this.inFlight.size < this.options.maxInFlight ? this.start(ip) : this.enqueue(ip);
    if (this.cache.size >= this.options.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    const entry = { expires: now + this.options.ttlMs, result };
    this.cache.set(ip, entry);
    void result.then((answer) => {
      if (answer.error === undefined || this.cache.get(ip) !== entry) return;
      // A lookup that was never made says nothing about the address: the next fetch from it asks again.
      if (answer.error === 'busy') this.cache.delete(ip);
      else entry.expires = Math.min(entry.expires, Date.now() + this.options.failureTtlMs);
    });
    return result;
  }

  /** Resolves once every lookup asked for so far has its answer, waiting ones included (each within its deadlines). */
  async drain(): Promise<void> {
    // A lookup that ends starts the next waiting one before it settles, so the set is never empty while some wait.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private start(ip: string): Promise<PtrResult> {
    const result = this.resolve(ip).finally(() => {
      this.inFlight.delete(result);
      this.startNextWaiting();
    });
    this.inFlight.add(result);
    return result;
  }

  private enqueue(ip: string): Promise<PtrResult> {
    return new Promise((answer) => {
      if (this.waiting.size >= this.options.maxQueued) this.settle(this.waiting.takeOldestOfLargest()!, BUSY);
      const waiting: Waiting = {
        ip,
        network: networkOf(ip),
        answer,
        timer: setTimeout(() => {
          this.waiting.remove(waiting.network, waiting);
          answer(BUSY);
        }, this.options.timeoutMs).unref(),
      };
      this.waiting.push(waiting.network, waiting);
    });
  }

  private startNextWaiting(): void {
    const next = this.waiting.takeNext();
    if (next) this.settle(next, this.start(next.ip));
  }

  private settle(waiting: Waiting, result: PtrResult | Promise<PtrResult>): void {
    clearTimeout(waiting.timer);
    waiting.answer(result);
  }

  private async resolve(ip: string): Promise<PtrResult> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<PtrResult>((resolve) => {
      timer = setTimeout(() => resolve({ ptr: null, confirmed: false, error: 'timeout' }), this.options.timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([this.forwardConfirmed(ip), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async forwardConfirmed(ip: string): Promise<PtrResult> {
    let names: string[];
    try {
      // A PTR query, not resolver.reverse(): c-ares's reverse lookup reports every failure (SERVFAIL,
      // REFUSED, a timeout) as ENOTFOUND, which would read as "this address has no PTR record".
      names = await this.resolver.resolvePtr(reverseLookupName(ip));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return { ptr: null, confirmed: false };
      return { ptr: null, confirmed: false, error: code === 'ETIMEOUT' ? 'timeout' : 'failed' };
    }
    const ptr = names[0]?.toLowerCase().replace(/\.$/, '') ?? null;
    if (ptr === null) return { ptr, confirmed: false };
    // A PTR record is whatever the address's owner wrote; only the forward lookup ties it to the name.
    const addresses = await (ipFamily(ip) === 4 ? this.resolver.resolve4(ptr) : this.resolver.resolve6(ptr)).catch(
      () => [] as string[],
    );
    return { ptr, confirmed: addresses.some((address) => address.toLowerCase() === ip.toLowerCase()) };
  }
}

/** RFC 1035 §3.5 and RFC 3596 §2.5: the name under in-addr.arpa or ip6.arpa whose PTR record names the address. */
export function reverseLookupName(ip: string): string {
  const bytes = ipBytes(ip);
  if (bytes === undefined) throw new Error(`not an IP address: ${ip}`);
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles = [...bytes].flatMap((byte) => [(byte >> 4).toString(16), (byte & 15).toString(16)]);
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}
