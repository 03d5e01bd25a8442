import { MAX_TXT_LENGTH, type Lookup, type MxRecord } from '../health/dns-lookup.js';
import { cidrOf } from '../net/ip-address.js';
import { ipFamily } from '../net/ip-family.js';
import { printable } from '../text/printable.js';

/**
 * A provider's sending ranges read from the SPF records it publishes (RFC 7208): the record is
 * expanded, not evaluated. `include:` and `redirect=` are followed, `ip4:`/`ip6:` collected, and
 * `a`/`mx` resolved to the addresses they name. What comes from DNS is someone else's data, so
 * RFC 7208's processing limits hold, loops end the expansion, and a term that would claim a
 * large part of the internet is refused with a note.
 */

/** The DNS questions an expansion asks; DnsLookup (src/health/dns-lookup.ts) answers them. */
export interface SpfDns {
  txt(name: string): Promise<Lookup<string>>;
  mx(name: string): Promise<Lookup<MxRecord>>;
  addresses(name: string): Promise<Lookup<string>>;
}

/** One range and the record (its DNS name) whose term listed it. */
export interface SpfRange {
  range: string;
  record: string;
}

export type SpfExpansion =
  /** `notes`: terms skipped or refused (macros, `ptr`, `+all`, ranges too wide), for the operator to see. */
  | { ok: true; ranges: SpfRange[]; notes: string[] }
  /** `problem`: why no ranges can be trusted (a limit, a loop, a DNS failure, a syntax error). */
  | { ok: false; problem: string; notes: string[] };

// RFC 7208 §4.6.4: at most 10 terms that cause DNS queries (include, a, mx, ptr, exists, redirect) per evaluation.
export const MAX_DNS_TERMS = 10;
// RFC 7208 §4.6.4: more than 2 "void lookups" (no records, or NXDOMAIN) end the evaluation.
export const MAX_VOID_LOOKUPS = 2;
// RFC 7208 §4.6.4: an `mx` term may look at no more than 10 MX names.
export const MAX_MX_NAMES = 10;
/** Ranges one provider may publish; far above what any provider lists (Google: 27), so only a hostile record reaches it. */
export const MAX_RANGES = 2_000;
/** Ranges wider than these are refused: no mail provider sends from a sixteenth of the IPv4 internet. */
export const MIN_PREFIX = { 4: 8, 6: 24 } as const;

/** Record names and terms from DNS in a note or problem: cut and escaped, as all text from outside. */
const shown = (text: string) => printable(text, 120);

class SpfFailure extends Error {}

/**
 * Names taken from a record are asked and shown (as the source of a range) only when they are
 * plain DNS names, so that what reaches a query, a log line or a terminal is never odd text.
 */
function checkDomainName(name: string, recordName: string | undefined): void {
  if (name.length <= 253 && /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)) return;
  throw new SpfFailure(
    `${recordName === undefined ? '' : `${shown(recordName)}: `}${JSON.stringify(shown(name))} is not a DNS name`,
  );
}

/** Expands each record name on its own: the limits apply per record tree (RFC 7208 §4.6.4). */
export async function expandSpfRecords(names: readonly string[], dns: SpfDns): Promise<SpfExpansion> {
  const ranges = new Map<string, SpfRange>();
  const notes: string[] = [];
  for (const name of names) {
    const tree = new RecordTree(dns, notes);
    try {
      await tree.expand(name.toLowerCase(), []);
    } catch (error) {
      if (!(error instanceof SpfFailure)) throw error;
      return { ok: false, problem: error.message, notes };
    }
    for (const found of tree.ranges) if (!ranges.has(found.range)) ranges.set(found.range, found);
    if (ranges.size > MAX_RANGES) {
      return { ok: false, problem: `more than ${MAX_RANGES} ranges; refused as implausible for one provider`, notes };
    }
  }
  return { ok: true, ranges: [...ranges.values()], notes };
}

// The argument (":domain", "/24") stays in the term: the lookahead only checks that the name ends there.
const MECHANISM = /^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?=[:/]|$)/i;
const MODIFIER = /^([a-z][a-z0-9_.-]*)=(.*)$/i;

/** One top-level record and everything it includes, with its own counts of DNS terms and void lookups. */
class RecordTree {
  readonly ranges: SpfRange[] = [];
  private dnsTerms = 0;
  private voidLookups = 0;

  constructor(
    private readonly dns: SpfDns,
    private readonly notes: string[],
  ) {}

  /** Expands the SPF record at `name`; `chain` is the includes and redirects that led here. */
  async expand(name: string, chain: readonly string[]): Promise<void> {
    const path = [...chain, name];
    checkDomainName(name, chain.at(-1));
    if (chain.includes(name)) throw new SpfFailure(`loop: ${path.map(shown).join(' -> ')}`);
    const record = await this.recordAt(name, path);
    let redirect: string | undefined;
    for (const term of record
      .split(' ')
      .slice(1)
      .filter((part) => part !== '')) {
      const modifier = MODIFIER.exec(term);
      const mechanism = MECHANISM.exec(term);
      if (!mechanism && modifier) {
        if (modifier[1]!.toLowerCase() !== 'redirect') continue; // RFC 7208 §6: exp= and unknown modifiers change no ranges
        // RFC 7208 §6: redirect may appear at most once.
        if (redirect !== undefined) throw new SpfFailure(`${shown(name)}: more than one redirect= modifier`);
        redirect = modifier[2]!.toLowerCase();
        continue;
      }
      if (!mechanism) throw new SpfFailure(`${shown(name)}: unknown term ${JSON.stringify(shown(term))}`);
      const qualifier = mechanism[1] || '+';
      const kind = mechanism[2]!.toLowerCase();
      const argument = term.slice(mechanism[0].length);
      if (kind === 'all') {
        if (qualifier === '+') this.note(`${shown(name)}: "${shown(term)}" refused: it would claim every address`);
        // RFC 7208 §5.1: terms after "all" are never reached; RFC 7208 §6.1: redirect is ignored when "all" is present.
        return;
      }
      await this.mechanism(name, path, qualifier, kind, argument, term);
    }
    if (redirect !== undefined) {
      this.countDnsTerm(name);
      if (this.skippedMacro(name, redirect)) return;
      // RFC 7208 §6.1: the redirect target's record stands in for this one.
      await this.expand(redirect, path);
    }
  }

  /** The one SPF record at `name` (RFC 7208 §4.5): TXT values starting with "v=spf1". */
  private async recordAt(name: string, path: readonly string[]): Promise<string> {
    const answer = await this.dns.txt(name);
    if (!answer.ok) {
      if (answer.kind === 'absent') this.countVoidLookup(name);
      throw new SpfFailure(
        answer.kind === 'absent'
          ? `${shown(name)} has no TXT record${path.length > 1 ? ` (reached by ${path.slice(0, -1).map(shown).join(' -> ')})` : ''}`
          : shown(answer.reason),
      );
    }
    const records = answer.values.filter((value) => /^v=spf1( |$)/i.test(value));
    if (records.length === 0) throw new SpfFailure(`${shown(name)} has no SPF record (no TXT value starts with v=spf1)`);
    // RFC 7208 §4.5: more than one record is a permanent error.
    if (records.length > 1) throw new SpfFailure(`${shown(name)} has ${records.length} SPF records; RFC 7208 §4.5 allows one`);
    const record = records[0]!;
    // DnsLookup cuts a value at MAX_TXT_LENGTH; a record that long may have lost terms, so none of it is trusted.
    if (record.length >= MAX_TXT_LENGTH)
      throw new SpfFailure(`${shown(name)}: the SPF record is longer than ${MAX_TXT_LENGTH - 1} characters`);
    return record;
  }

  private async mechanism(
    name: string,
    path: readonly string[],
    qualifier: string,
    kind: string,
    argument: string,
    term: string,
  ): Promise<void> {
    // Only "pass" terms name senders; "-ip4:..." and the like list addresses that must not send.
    const passes = qualifier === '+';
    switch (kind) {
      case 'ip4':
      case 'ip6':
        if (passes) this.addRange(name, kind === 'ip4' ? 4 : 6, argument.slice(1), term);
        return;
      case 'include': {
        this.countDnsTerm(name);
        const target = argument.slice(1).toLowerCase();
        if (!argument.startsWith(':') || target === '') throw new SpfFailure(`${shown(name)}: "${shown(term)}" names no domain`);
        if (!passes || this.skippedMacro(name, target)) return;
        // RFC 7208 §5.2: the included record's "pass" terms are this record's too.
        await this.expand(target, path);
        return;
      }
      case 'a':
      case 'mx': {
        this.countDnsTerm(name);
        const parsed = /^(?::([^/]+))?(?:\/(\d{1,3}))?(?:\/\/(\d{1,3}))?$/.exec(argument);
        if (!parsed) throw new SpfFailure(`${shown(name)}: "${shown(term)}" is not a valid ${kind} term`);
        const domain = (parsed[1] ?? name).toLowerCase();
        if (!passes || this.skippedMacro(name, domain)) return;
        checkDomainName(domain, name);
        // RFC 7208 §5.6: dual-cidr-length, /32 and /128 when absent.
        const prefixes = { 4: Number(parsed[2] ?? 32), 6: Number(parsed[3] ?? 128) };
        const hosts = kind === 'a' ? [domain] : await this.mxHosts(name, domain);
        for (const host of hosts) {
          const addresses = await this.dns.addresses(host);
          if (!addresses.ok) {
            if (addresses.kind !== 'absent') throw new SpfFailure(shown(addresses.reason));
            this.countVoidLookup(name);
            continue;
          }
          for (const address of addresses.values) {
            const family = ipFamily(address) as 4 | 6;
            this.addRange(name, family, `${address}/${prefixes[family]}`, term);
          }
        }
        return;
      }
      default:
        // ptr and exists: RFC 7208 §5.5, §5.7: they test the sender's address and name no range.
        this.countDnsTerm(name);
        if (passes) this.note(`${shown(name)}: "${shown(term)}" skipped: it names no address range`);
    }
  }

  /** The exchanges of `domain`'s MX records, for an `mx` term. */
  private async mxHosts(name: string, domain: string): Promise<string[]> {
    const answer = await this.dns.mx(domain);
    if (!answer.ok) {
      if (answer.kind !== 'absent') throw new SpfFailure(shown(answer.reason));
      this.countVoidLookup(name);
      return [];
    }
    if (answer.values.length > MAX_MX_NAMES) {
      throw new SpfFailure(
        `${shown(domain)} has ${answer.values.length} MX records; RFC 7208 §4.6.4 allows ${MAX_MX_NAMES} for an mx term`,
      );
    }
    // RFC 7505: a null MX (".") names no host.
    return answer.values.map((record) => record.exchange.replace(/\.$/, '')).filter((exchange) => exchange !== '');
  }

  private addRange(name: string, family: 4 | 6, text: string, term: string): void {
    const [address = '', prefixText, ...rest] = text.split('/');
    const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    const range = rest.length === 0 && ipFamily(address) === family ? cidrOf(address, prefix) : undefined;
    if (range === undefined) throw new SpfFailure(`${shown(name)}: "${shown(term)}" is not a valid address range`);
    if (prefix < MIN_PREFIX[family]) {
      this.note(
        `${shown(name)}: "${shown(term)}" refused: wider than /${MIN_PREFIX[family]}, it would claim too much of the internet`,
      );
      return;
    }
    this.ranges.push({ range, record: name });
  }

  /** RFC 7208 §7: macros expand per message (sender, client address), so a record using them lists no fixed range. */
  private skippedMacro(name: string, domain: string): boolean {
    if (!domain.includes('%')) return false;
    this.note(`${shown(name)}: "${shown(domain)}" skipped: macros depend on each message`);
    return true;
  }

  private countDnsTerm(name: string): void {
    // RFC 7208 §4.6.4: at most 10 terms that cause DNS queries.
    if (++this.dnsTerms > MAX_DNS_TERMS) {
      throw new SpfFailure(`${shown(name)}: more than ${MAX_DNS_TERMS} DNS-querying terms (RFC 7208 §4.6.4)`);
    }
  }

  private countVoidLookup(name: string): void {
    // RFC 7208 §4.6.4: more than 2 lookups answered with no records end the evaluation.
    if (++this.voidLookups > MAX_VOID_LOOKUPS) {
      throw new SpfFailure(`${shown(name)}: more than ${MAX_VOID_LOOKUPS} DNS lookups found nothing (RFC 7208 §4.6.4)`);
    }
  }

  private note(text: string): void {
    this.notes.push(text);
  }
}
