import { policyIdOf, renderPolicy, type DomainPolicy, type StsPolicy } from './policy.js';

/** RFC 8461 §3.3: the policy is fetched from the host `mta-sts.<policy domain>`. */
export const POLICY_HOST_PREFIX = 'mta-sts.';

export interface ServedPolicy {
  readonly domain: string;
  readonly host: string;
  readonly policy: StsPolicy;
  readonly id: string;
  /** The exact response body, rendered once per config load rather than per request. */
  readonly body: Buffer;
  readonly tlsRptRua: readonly string[];
}

/** The policies of one config load, looked up by the Host a request names. Immutable: a reload builds a new set. */
export class PolicySet {
  private readonly byHost: Map<string, ServedPolicy>;

  /**
   * `earlier`: a set whose served policies are taken over for the domains whose policy objects a
   * reload kept (the unchanged ones), body and id included; rendering and hashing every body
   * again was a quarter of a reload at 100 000 domains.
   */
  constructor(domains: readonly DomainPolicy[], earlier?: PolicySet) {
    this.byHost = new Map(
      domains.map((domain) => {
        const host = POLICY_HOST_PREFIX + domain.name;
        const kept = earlier?.byHost.get(host);
        if (kept?.policy === domain.policy && kept.tlsRptRua === domain.tlsRptRua) return [host, kept];
        const text = renderPolicy(domain.policy);
        return [
          host,
          {
            domain: domain.name,
            host,
            policy: domain.policy,
            id: policyIdOf(text),
            // Stryker disable next-line StringLiteral: the policy is ASCII (A-labels, digits), the same bytes in any encoding Node defaults to
            body: Buffer.from(text, 'ascii'),
            tlsRptRua: domain.tlsRptRua,
          },
        ];
      }),
    );
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
