import { ipFamily } from '../net/ip-family.js';
import { z } from 'zod';
import { quote } from '../text/quote.js';
import { mapping } from './issues.js';
import { dnsServer, list, onOff, text } from './schema-values.js';

/**
 * The `health:` section: how the service and `mta-sts-server check` look at each domain from the
 * outside (DNS records, the policy host, the MX hosts).
 */

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MIN_INTERVAL = '10m';
const MAX_INTERVAL = '7d';
const DEFAULT_INTERVAL = '6h';

/** "10m", "6h", "7d" in milliseconds; undefined for anything else. */
function durationMs(text: string): number | undefined {
  const match = /^(\d{1,6})([mhd])$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined;
}

const intervalAllowed = `allowed: ${MIN_INTERVAL} to ${MAX_INTERVAL}, written as minutes, hours or days (30m, 6h, 1d)`;

const interval = z
  .string({ error: (issue) => `${quote(issue.input)} is not a duration; ${intervalAllowed}` })
  .transform((value, ctx) => {
    const ms = durationMs(value);
    const problem =
      ms === undefined
        ? 'is not a duration'
        : ms < durationMs(MIN_INTERVAL)!
          ? 'is too short'
          : ms > durationMs(MAX_INTERVAL)!
            ? 'is too long'
            : undefined;
    if (problem === undefined) return ms!;
    ctx.addIssue({ code: 'custom', message: `${quote(value)} ${problem}; ${intervalAllowed}` });
    return z.NEVER;
  });

const publicAddress = text('an IP address of this server as the internet reaches it').refine((value) => ipFamily(value) !== 0, {
  error: (issue) => `${quote(issue.input)} is not an IP address`,
});

export const healthSchema = mapping({
  enabled: onOff.default(true),
  interval: interval.default(durationMs(DEFAULT_INTERVAL)!),
  // The DNS servers to ask, as a sender's resolver would answer; the system's resolvers when empty.
  resolver: list(dnsServer, 'a list of DNS server addresses').default([]),
  // This server's addresses as the internet reaches it: mta-sts.<domain> should resolve to one.
  public_addresses: list(publicAddress, 'a list of IP addresses').default([]),
})
  .default({ enabled: true, interval: durationMs(DEFAULT_INTERVAL)!, resolver: [], public_addresses: [] })
  .transform((raw) => ({
    enabled: raw.enabled,
    intervalMs: raw.interval,
    resolver: raw.resolver,
    publicAddresses: raw.public_addresses,
  }));
