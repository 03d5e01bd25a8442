/** One `policy_fetch` log line, as written by the fetch log (the fields `who` reads). */
export interface FetchLine {
  time: string;
  domain: string | null;
  ip: string;
  provider: string;
  provider_claimed: string | null;
  status: number;
  policy_id: string | null;
}

export interface ProviderSummary {
  provider: string;
  fetches: number;
  addresses: number;
  lastSeen: string;
  lastPolicyId: string | null;
  /** Fetches whose user agent claimed another provider than the address showed. */
  contradicted: number;
}

/** Per-provider totals over a stream of fetch lines, for `mta-sts-server who`. */
export class FetchSummary {
  private readonly byProvider = new Map<
    string,
    { fetches: number; addresses: Set<string>; lastSeen: string; lastPolicyId: string | null; contradicted: number }
  >();

  add(line: FetchLine): void {
    let entry = this.byProvider.get(line.provider);
    if (!entry) {
      entry = { fetches: 0, addresses: new Set(), lastSeen: line.time, lastPolicyId: null, contradicted: 0 };
      this.byProvider.set(line.provider, entry);
    }
    entry.fetches++;
    entry.addresses.add(line.ip);
    if (line.time >= entry.lastSeen) entry.lastSeen = line.time;
    if (line.policy_id !== null) entry.lastPolicyId = line.policy_id;
    if (line.provider_claimed !== null) entry.contradicted++;
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
}

/** A log line as a fetch, or undefined for anything else (other events, pretty-printed or foreign lines). */
export function parseFetchLine(text: string): FetchLine | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const line = JSON.parse(text) as Partial<FetchLine> & { event?: unknown };
    if (line.event !== 'policy_fetch' || typeof line.provider !== 'string' || typeof line.ip !== 'string') return undefined;
    return {
      time: String(line.time ?? ''),
      domain: line.domain ?? null,
      ip: line.ip,
      provider: line.provider,
      provider_claimed: line.provider_claimed ?? null,
      status: Number(line.status),
      policy_id: line.policy_id ?? null,
    };
  } catch {
    return undefined;
  }
}
