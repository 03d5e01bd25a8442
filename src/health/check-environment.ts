import type { DnsLookup } from './dns-lookup.js';

/** What the checks of a domain work with: where to ask, whom to trust, where to connect, how long to wait. */
export interface CheckEnvironment {
  readonly dns: DnsLookup;
  /** Trust anchors for the policy host and the MX hosts. */
  readonly ca: readonly string[];
  /** 443 for the internet; another port for private networks and tests. */
  readonly httpsPort: number;
  /** 25 for the internet; another port for private networks and tests. */
  readonly smtpPort: number;
  /** Each network step (a DNS question, an HTTPS fetch, an SMTP exchange) ends by then. */
  readonly timeoutMs: number;
  /** This server's public addresses: mta-sts.<domain> should resolve to one (health.public_addresses). */
  readonly publicAddresses: readonly string[];
  /** Sent with EHLO. */
  readonly ehloName: string;
  readonly now: () => number;
}
