import { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';

export interface PtrResult {
  /** The first PTR name, lower case, or null when there is none. */
  ptr: string | null;
  /** The PTR name resolves back to the address (forward-confirmed reverse DNS). */
  confirmed: boolean;
  /** Why there is no answer: the lookup timed out, failed, or was skipped because too many were in flight. */
  error?: 'timeout' | 'failed' | 'busy';
}

export interface ReverseDnsOptions {
  /** DNS servers ("host" or "host:port"); the system's resolvers when empty. */
  servers: readonly string[];
  timeoutMs: number;
  maxInFlight: number;
  ttlMs: number;
  maxEntries: number;
}

/**
 * Reverse DNS for fetch attribution, kept off the request path: lookups are asynchronous,
 * bounded in time and in number, and cached by address (a sender fetches from few addresses).
 */
export class ReverseDns {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, { expires: number; result: Promise<PtrResult> }>();
  private readonly inFlight = new Set<Promise<PtrResult>>();

  constructor(private readonly options: ReverseDnsOptions) {
    // One try, longer than the lookup's own deadline: c-ares reports a reverse lookup that timed
    // out as ENOTFOUND ("no PTR"), so the deadline below must be what ends a silent server's lookup.
    this.resolver = new Resolver({ timeout: options.timeoutMs * 2, tries: 1 });
    if (options.servers.length > 0) this.resolver.setServers([...options.servers]);
  }

  lookup(ip: string): Promise<PtrResult> {
    const now = Date.now();
    const cached = this.cache.get(ip);
    if (cached && cached.expires > now) return cached.result;
    if (this.inFlight.size >= this.options.maxInFlight) return Promise.resolve({ ptr: null, confirmed: false, error: 'busy' });
    const result = this.resolve(ip).finally(() => this.inFlight.delete(result));
    this.inFlight.add(result);
    if (this.cache.size >= this.options.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(ip, { expires: now + this.options.ttlMs, result });
    return result;
  }

  /** Resolves once every lookup started so far has its answer (or gave up at its deadline). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
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
      names = await this.resolver.reverse(ip);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return { ptr: null, confirmed: false };
      return { ptr: null, confirmed: false, error: code === 'ETIMEOUT' ? 'timeout' : 'failed' };
    }
    const ptr = names[0]?.toLowerCase().replace(/\.$/, '') ?? null;
    if (ptr === null) return { ptr, confirmed: false };
    // A PTR record is whatever the address's owner wrote; only the forward lookup ties it to the name.
    const addresses = await (isIPv4(ip) ? this.resolver.resolve4(ptr) : this.resolver.resolve6(ptr)).catch(() => [] as string[]);
    return { ptr, confirmed: addresses.some((address) => address.toLowerCase() === ip.toLowerCase()) };
  }
}
