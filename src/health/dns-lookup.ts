import { Resolver } from 'node:dns/promises';
import { resolverServerText, type ServerAddress } from '../net/server-address.js';

/** Records of one answer looked at; a name with more is misconfigured or hostile, and the rest are ignored. */
export const MAX_RECORDS = 32;
/** Characters of one TXT value looked at (a valid MTA-STS or TLSRPT record is far shorter). */
export const MAX_TXT_LENGTH = 2_048;

export type Lookup<T> =
  | { ok: true; values: T[] }
  /** `absent`: the name or the record type does not exist; `timeout`: no answer in time; `error`: any other failure. */
  | { ok: false; kind: 'absent' | 'timeout' | 'error'; reason: string };

export interface MxRecord {
  exchange: string;
  priority: number;
}

const ABSENT_CODES = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * DNS questions as a sending MTA asks them: through the given servers (the system's when none),
 * each bounded by `timeoutMs`. A stub resolver: CNAMEs are followed as the recursive server
 * answers them (the chain and the target's records in one answer).
 */
export class DnsLookup {
  constructor(
    private readonly servers: readonly ServerAddress[],
    private readonly timeoutMs: number,
  ) {}

  /** The TXT values at `name`, each value's strings joined (RFC 7208 §3.3 style, as RFC 8461 §3.1 reads them). */
  async txt(name: string): Promise<Lookup<string>> {
    const answer = await this.ask(name, (resolver) => resolver.resolveTxt(name));
    if (!answer.ok) return answer;
    return { ok: true, values: answer.values.slice(0, MAX_RECORDS).map((chunks) => chunks.join('').slice(0, MAX_TXT_LENGTH)) };
  }

  /** The MX records of `name`, lowest preference first. */
  async mx(name: string): Promise<Lookup<MxRecord>> {
    const answer = await this.ask(name, (resolver) => resolver.resolveMx(name));
    if (!answer.ok) return answer;
    const records = answer.values
      .slice(0, MAX_RECORDS)
      .map((record) => ({ exchange: record.exchange.toLowerCase(), priority: record.priority }));
    return { ok: true, values: records.sort((a, b) => a.priority - b.priority || (a.exchange < b.exchange ? -1 : 1)) };
  }

  /** The IPv4 and IPv6 addresses of `name`; absent only when it has neither. */
  async addresses(name: string): Promise<Lookup<string>> {
    const [v4, v6] = await Promise.all([
      this.ask(name, (resolver) => resolver.resolve4(name)),
      this.ask(name, (resolver) => resolver.resolve6(name)),
    ]);
    const values = [...(v4.ok ? v4.values : []), ...(v6.ok ? v6.values : [])].slice(0, MAX_RECORDS);
    if (values.length > 0) return { ok: true, values };
    // The more telling failure: a timeout or error over "absent".
    const failures = [v4, v6].filter((lookup) => !lookup.ok);
    return (
      failures.find((lookup) => lookup.kind !== 'absent') ??
      failures[0] ?? { ok: false, kind: 'absent', reason: 'no A or AAAA record' }
    );
  }

  /** One question on a resolver of its own, so that a deadline cancels only it. */
  private async ask<T>(name: string, question: (resolver: Resolver) => Promise<T[]>): Promise<Lookup<T>> {
    const resolver = new Resolver({ timeout: this.timeoutMs, tries: 1 });
    if (this.servers.length > 0) resolver.setServers(this.servers.map(resolverServerText));
    // c-ares' timeout is per server and per try; the deadline bounds the question as a whole.
    const deadline = setTimeout(() => resolver.cancel(), this.timeoutMs + 50);
    try {
      return { ok: true, values: await question(resolver) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (ABSENT_CODES.has(code)) return { ok: false, kind: 'absent', reason: `${name} has no such record` };
      if (code === 'ETIMEOUT' || code === 'ECANCELLED') {
        return { ok: false, kind: 'timeout', reason: `no DNS answer for ${name} within ${this.timeoutMs} ms` };
      }
      return { ok: false, kind: 'error', reason: `the DNS query for ${name} failed (${code || (error as Error).message})` };
    } finally {
      clearTimeout(deadline);
    }
  }
}
