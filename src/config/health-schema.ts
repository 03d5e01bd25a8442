import { ipFamily } from '../net/ip-family.js';
import { quote } from '../text/quote.js';
import { defaultsWhenAbsent, mapping } from './issues.js';
import { dnsServer, duration, durationMs, list, onOff, text } from './schema-values.js';

/**
 * The `health:` section: how the service and `mta-sts-server check` look at each domain from the
 * outside (DNS records, the policy host, the MX hosts).
 */

const DEFAULT_INTERVAL = '6h';
const interval = duration('10m', '7d');

const publicAddress = text('an IP address of this server as the internet reaches it').refine((value) => ipFamily(value) !== 0, {
  error: (issue) => `${quote(issue.input)} is not an IP address`,
});

export const healthSchema = defaultsWhenAbsent(
  mapping({
    enabled: onOff.default(true),
    interval: interval.default(durationMs(DEFAULT_INTERVAL)!),
    // The DNS servers to ask, as a sender's resolver would answer; the system's resolvers when empty.
    resolver: list(dnsServer, 'a list of DNS server addresses').default([]),
    // This server's addresses as the internet reaches it: mta-sts.<domain> should resolve to one.
    public_addresses: list(publicAddress, 'a list of IP addresses').default([]),
  }),
).transform((raw) => ({
  enabled: raw.enabled,
  intervalMs: raw.interval,
  resolver: raw.resolver,
  publicAddresses: raw.public_addresses,
}));
