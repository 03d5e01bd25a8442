import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { describeIssues, mapping, PARSE_ONCE, unlocatedLines } from '../config/issues.js';
import { quote } from '../text/quote.js';
import { parseYaml, readYamlFile } from '../config/yaml-document.js';
import { IpRangeTable, parseCidr } from '../net/ip-ranges.js';

/** The provider of a fetch that no evidence attributes to one. */
export const UNKNOWN_PROVIDER = 'unknown';

export interface ProviderVerdict {
  /** provider id (key in the data file) the fetch is attributed to, or 'unknown' */
  provider: string;
  /** what the attribution rests on */
  evidence: 'ua+ip' | 'ip' | 'ua' | 'none';
  /** set when the user agent claims a provider that the source address contradicts (spoofed or misattributed) */
  claimed?: string;
}

/** The provider list shipped with the package; found from this module's own location, for src/ and dist/src/ alike. */
export const SHIPPED_PROVIDERS_FILE: string = join(
  packageRoot(dirname(fileURLToPath(import.meta.url))),
  'config',
  'providers.yaml',
);

function packageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}; cannot locate config/providers.yaml`);
  }
}

interface Provider {
  readonly id: string;
  readonly name: string;
  readonly userAgents: readonly RegExp[];
  readonly hasRanges: boolean;
  /** Domains whose (forward-confirmed) reverse DNS names belong to this provider. */
  readonly ptrDomains: readonly string[];
  /** The SPF records that publish its sending ranges, for `providers refresh`. */
  readonly spf: readonly string[];
}

/** A provider whose ranges can be refreshed from DNS, and the SPF records to read. */
export interface SpfSource {
  id: string;
  records: readonly string[];
}

/** Ranges read from providers' SPF records (`providers refresh`), per provider id. */
export type RefreshedRanges = ReadonlyMap<string, readonly string[]>;

/** Attributes policy fetches to mail providers by source address and user agent. */
export class ProviderClassifier {
  private constructor(
    private readonly providers: ReadonlyMap<string, Provider>,
    private readonly ranges: IpRangeTable<Provider>,
  ) {}

  /** Reads and validates a provider list; the Error lists every problem found, one per line. */
  static async fromFile(path: string): Promise<ProviderClassifier> {
    return ProviderClassifier.fromFiles([path]);
  }

  /**
   * The shipped list with the user's own files over it: a provider id in a later file replaces
   * the earlier entry whole, a new id is added. Each file is checked on its own first, so an
   * error names the file it is in.
   */
  static async fromFiles(paths: readonly string[], refreshed: RefreshedRanges = new Map()): Promise<ProviderClassifier> {
    const merged: Record<string, ProviderEntry> = {};
    for (const path of paths) {
      const data = await readProviderFile(path);
      Object.assign(merged, (data as { providers: Record<string, ProviderEntry> }).providers);
    }
    return ProviderClassifier.fromData({ providers: withRefreshedRanges(merged, refreshed) }, paths.join(' + '));
  }

  /** Validates already-parsed data; `sourceName` starts every error line, so it should say where the data came from. */
  static fromData(data: unknown, sourceName: string): ProviderClassifier {
    const parsed = providersFileSchema.safeParse(data, PARSE_ONCE);
    if (!parsed.success) {
      throw new Error(unlocatedLines(describeIssues(parsed.error.issues, providersFileSchema, data), sourceName).join('\n'));
    }
    return new ProviderClassifier(parsed.data.providers, parsed.data.ranges);
  }

  /** Runs on every policy request: one trie walk plus the user-agent patterns, all compiled at load. */
  classify(ip: string, userAgent: string): ProviderVerdict {
    const owner = this.ranges.lookup(ip);
    if (owner !== undefined) {
      if (matches(owner, userAgent)) return { provider: owner.id, evidence: 'ua+ip' };
      const claim = this.claimedBy(userAgent);
      return claim === undefined
        ? { provider: owner.id, evidence: 'ip' }
        : { provider: owner.id, evidence: 'ip', claimed: claim.id };
    }
    const claim = this.claimedBy(userAgent);
    if (claim === undefined) return { provider: UNKNOWN_PROVIDER, evidence: 'none' };
    // A provider that publishes its ranges fetches from them; the same user agent from elsewhere is not believed.
    return claim.hasRanges
      ? { provider: UNKNOWN_PROVIDER, evidence: 'none', claimed: claim.id }
      : { provider: claim.id, evidence: 'ua' };
  }

  /** The provider a forward-confirmed reverse DNS name belongs to: the name is one of its domains or below one. */
  providerOfHostname(hostname: string): string | undefined {
    for (const provider of this.providers.values()) {
      if (provider.ptrDomains.some((domain) => hostname === domain || hostname.endsWith(`.${domain}`))) return provider.id;
    }
    return undefined;
  }

  /** The providers that name SPF records, in file order. */
  get spfSources(): SpfSource[] {
    return [...this.providers.values()]
      .filter((provider) => provider.spf.length > 0)
      .map(({ id, spf }) => ({ id, records: spf }));
  }

  /** Every provider id, in file order. */
  get providerIds(): string[] {
    return [...this.providers.keys()];
  }

  /** The display name; ids no longer in the data file (say, in old log lines) are shown as they are. */
  providerName(id: string): string {
    if (id === UNKNOWN_PROVIDER) return 'Unknown';
    return this.providers.get(id)?.name ?? id;
  }

  /** The first provider, in file order, whose patterns match; an absent user agent claims nothing. */
  private claimedBy(userAgent: string): Provider | undefined {
    // Stryker disable next-line ConditionalExpression,StringLiteral: a shortcut; no pattern that matches "" is accepted at load, so the loop finds none either
    if (userAgent === '') return undefined;
    for (const provider of this.providers.values()) if (matches(provider, userAgent)) return provider;
    return undefined;
  }
}

/** A provider list's data, checked on its own so that its errors are located in it (`file:line:column field: ...`). */
async function readProviderFile(path: string): Promise<unknown> {
  const read = await readYamlFile(path, 'the provider list');
  if (!read.ok) throw new Error(read.problem);
  const parsed = parseYaml(read.text, path);
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const { data } = parsed.document;
  const checked = providersFileSchema.safeParse(data, PARSE_ONCE);
  if (!checked.success) {
    throw new Error(parsed.document.reportProblems(describeIssues(checked.error.issues, providersFileSchema, data)).join('\n'));
  }
  return data;
}

/** A provider entry as a file has it, before validation: only what the overlay below reads. */
interface ProviderEntry {
  ranges?: unknown;
  spf?: unknown;
}

/**
 * The entries with refreshed ranges in place of the written ones, for providers that still name
 * SPF records (an entry the user replaced without `spf:` keeps its own). The written ranges stay
 * the fallback for a provider never refreshed. A refreshed range that another provider already
 * lists is left out: its DNS record cannot take over a range someone else's entry names.
 */
function withRefreshedRanges(entries: Record<string, ProviderEntry>, refreshed: RefreshedRanges): Record<string, ProviderEntry> {
  const overlaid = (id: string) => {
    const { spf } = entries[id]!;
    return refreshed.has(id) && Array.isArray(spf) && spf.length > 0;
  };
  const claimed = new Set<string>();
  for (const [id, entry] of Object.entries(entries)) {
    if (overlaid(id) || !Array.isArray(entry.ranges)) continue;
    for (const range of entry.ranges) if (typeof range === 'string') claimed.add(rangeKey(range));
  }
  const result: Record<string, ProviderEntry> = {};
  for (const [id, entry] of Object.entries(entries)) {
    if (!overlaid(id)) {
      result[id] = entry;
      continue;
    }
    const ranges = refreshed.get(id)!.filter((range) => !claimed.has(rangeKey(range)));
    for (const range of ranges) claimed.add(rangeKey(range));
    result[id] = { ...entry, ranges };
  }
  return result;
}

/** One key per range however it is written (`2a02:6b8:0::/52` and `2a02:6b8::/52` alike); the text itself when it is not a range. */
function rangeKey(range: string): string {
  try {
    const { bytes, prefix } = parseCidr(range);
    return `${bytes.join('.')}/${prefix}`;
  } catch {
    return range;
  }
}

function matches(provider: Provider, userAgent: string): boolean {
  return provider.userAgents.some((pattern) => pattern.test(userAgent));
}

const providerId = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, {
    error: (issue) => `provider id ${quote(issue.input)} must be lowercase letters, digits and hyphens, starting with a letter`,
  })
  .refine((id) => id !== UNKNOWN_PROVIDER, {
    error: `provider id "${UNKNOWN_PROVIDER}" is reserved for fetches that match no provider`,
  });

const userAgentPattern = z
  .string({ error: (issue) => `${quote(issue.input)} is not text; expected a regular expression such as ^Google-SMTP-STS` })
  .transform((pattern, ctx): RegExp => {
    let regex: RegExp;
    try {
      regex = new RegExp(pattern);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `${quote(pattern)} is not a regular expression: ${(error as Error).message}` });
      return z.NEVER;
    }
    if (regex.test('')) {
      ctx.addIssue({ code: 'custom', message: `${quote(pattern)} matches the empty string, so it would claim every fetch` });
      return z.NEVER;
    }
    return regex;
  });

const cidrRange = z
  .string({ error: (issue) => `${quote(issue.input)} is not text; expected a CIDR range such as 192.0.2.0/24` })
  .superRefine((range, ctx) => {
    try {
      parseCidr(range);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

const list = <T extends z.ZodType>(item: T, what: string) =>
  z.array(item, { error: (issue) => `${quote(issue.input)} is not a list; expected ${what} (write [] for none)` });

const provider = mapping({
  name: z.string({ error: 'expected a display name' }).min(1, { error: 'the display name must not be empty' }),
  user_agents: list(userAgentPattern, 'a list of regular expressions'),
  ranges: list(cidrRange, 'a list of CIDR ranges'),
  ptr_domains: list(
    z
      .string({ error: 'expected a domain such as google.com' })
      .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, { error: (issue) => `${quote(issue.input)} is not a lower-case domain name` }),
    'a list of domains',
  ).default([]),
  // RFC 7208 SPF records that publish the provider's sending ranges: `providers refresh` reads them.
  spf: list(
    z
      .string({ error: 'expected a DNS name such as _spf.google.com' })
      .max(253, { error: (issue) => `${quote(issue.input)} is longer than a DNS name can be (253 characters)` })
      .regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/, {
        error: (issue) => `${quote(issue.input)} is not a lower-case DNS name such as _spf.google.com`,
      }),
    'a list of DNS names',
  ).default([]),
}).refine(
  (entry) => entry.user_agents.length > 0 || entry.ranges.length > 0 || entry.ptr_domains.length > 0 || entry.spf.length > 0,
  { error: 'needs user_agents, ranges, ptr_domains or spf; with none it can never match a fetch' },
);

const providersFileSchema = mapping({
  providers: z.record(providerId, provider, {
    // Without this, a bad id would be reported only as "invalid key", hiding what is wrong with it.
    error: (issue) =>
      issue.code === 'invalid_key'
        ? issue.issues.map((inner) => inner.message).join('; ')
        : 'expected a mapping of provider ids to providers',
  }),
}).transform(({ providers: entries }, ctx) => {
  const providers = new Map<string, Provider>();
  const ranges = new IpRangeTable<Provider>();
  for (const [id, entry] of Object.entries(entries)) {
    const provider: Provider = {
      id,
      name: entry.name,
      userAgents: entry.user_agents,
      hasRanges: entry.ranges.length > 0,
      ptrDomains: entry.ptr_domains,
      spf: entry.spf,
    };
    providers.set(id, provider);
    entry.ranges.forEach((range, index) => {
      // Overlapping ranges are fine (the most specific wins), but the same range twice leaves one owner silently dropped.
      const earlier = ranges.add(range, provider);
      if (earlier !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['providers', id, 'ranges', index],
          message: `${quote(range)} is already listed under providers.${earlier.id}`,
        });
      }
    });
  }
  return { providers, ranges };
});
