import { policyIdOf, renderPolicy, type DomainPolicy, type StsPolicy } from './policy.js';

/** RFC 8461 §3.3: the policy is fetched from the host `mta-sts.<policy domain>`. */
export const POLICY_HOST_PREFIX = 'mta-sts.';

export interface ServedPolicy {
  readonly domain: string;
  readonly host: string;
  readonly policy: StsPolicy;
  readonly id: string;
  /**
   * The exact response body, rendered once per config load rather than per request: ASCII (the
   * names are A-labels), so its length is its length in bytes.
   */
  readonly body: string;
  readonly tlsRptRua: readonly string[];
}

/** The policies of one config load, looked up by the Host a request names. Immutable: a reload builds a new set. */
export class PolicySet {
  private readonly byHost: Map<string, ServedPolicy>;
  /** The set this one was made from (weakly: a chain of sets must not stay in memory), and what it did not take over from it. */
  private readonly earlier: WeakRef<PolicySet> | undefined;
  private readonly fresh: ServedPolicy[] | undefined = [];
  /** Whether every host of `earlier` is served here too. */
  private readonly keepsEveryHost: boolean;

  /**
   * `earlier`: a set whose served policies are taken over for the domains whose policy objects a
   * reload kept (the unchanged ones), body and id included; rendering and hashing every body
   * again was a quarter of a reload at 100 000 domains.
   */
  constructor(domains: readonly DomainPolicy[], earlier?: PolicySet) {
    this.earlier = earlier && new WeakRef(earlier);
    let earlierHosts = 0;
    // A reload keeps the domains in the order they are written, so the earlier policy of a domain
    // is most often the one after the last found (or the next, when one was removed). Found there,
    // its host is not built and hashed again: half of making the set from the served one at
    // 100 000 domains.
    const earlierInOrder = earlier ? [...earlier.byHost.values()] : [];
    let next = 0;
    const earlierOf = (name: string): ServedPolicy | undefined => {
      const at = earlierInOrder[next]?.domain === name ? next : earlierInOrder[next + 1]?.domain === name ? next + 1 : -1;
      if (at < 0) return earlier?.byHost.get(POLICY_HOST_PREFIX + name);
      next = at + 1;
      return earlierInOrder[at];
    };
    this.byHost = new Map(
      domains.map((domain) => {
        const kept = earlierOf(domain.name);
        if (kept) earlierHosts++;
        if (kept?.policy === domain.policy && kept.tlsRptRua === domain.tlsRptRua) return [kept.host, kept];
        const host = kept?.host ?? POLICY_HOST_PREFIX + domain.name;
        const text = renderPolicy(domain.policy);
        const served: ServedPolicy = {
          domain: domain.name,
          host,
          policy: domain.policy,
          id: policyIdOf(text),
          body: text,
          tlsRptRua: domain.tlsRptRua,
        };
        this.fresh!.push(served);
        return [host, served];
      }),
    );
    // A host written twice in `domains` is served once, as its last: then neither list is known to be whole.
    const distinct = this.byHost.size === domains.length;
    if (!distinct) this.fresh = undefined;
    this.keepsEveryHost = distinct && earlier !== undefined && earlierHosts === earlier.size;
  }

  /**
   * Every policy served here that `before` did not serve as it is here (added or changed), in
   * order, with maybe some it did: those not taken over when this set was made from `before`,
   * else all of them. A reload looks at these alone; the others were served as they are.
   */
  changedSince(before: PolicySet | undefined): Iterable<ServedPolicy> {
    return this.fresh !== undefined && before !== undefined && this.earlier?.deref() === before ? this.fresh : this.policies;
  }

  /** The policies `before` served whose host this set does not serve, in `before`'s order. */
  removedSince(before: PolicySet): ServedPolicy[] {
    if (this.keepsEveryHost && this.earlier?.deref() === before) return [];
    return [...before.policies].filter((policy) => !this.byHost.has(policy.host));
  }

  /** `host` as it came in the request: any case, maybe with a port or a trailing dot. */
  forHost(host: string): ServedPolicy | undefined {
    return this.byHost.get(host) ?? this.byHost.get(normaliseHostHeader(host));
  }

  get hosts(): string[] {
    return [...this.byHost.keys()];
  }

  get policies(): IterableIterator<ServedPolicy> {
    return this.byHost.values();
  }

  get size(): number {
    return this.byHost.size;
  }
}

function normaliseHostHeader(host: string): string {
  let name = host.toLowerCase();
  // Stryker disable next-line ConditionalExpression,MethodExpression: a shortcut; cut at its last colon, an IPv6 literal still names no policy host
  if (name.startsWith('[')) return name; // an IPv6 literal is never a policy host
  const colon = name.lastIndexOf(':');
  // Stryker disable next-line EqualityOperator: a Host of only a port (':443') names no policy host, cut or not
  if (colon >= 0) name = name.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
