import { z } from 'zod';
import { quote } from '../text/quote.js';
import { mapping } from './issues.js';
import { dnsServer, durationMs, list, onOff, text, wholeNumber } from './schema-values.js';

/** What the service finds out and keeps about who fetched the policy: `reverse_dns`, `statistics` and `providers`. */

export const reverseDns = mapping({
  enabled: onOff.default(true),
  servers: list(dnsServer, 'a list of DNS server addresses').default([]),
  timeout_ms: wholeNumber('milliseconds', 100, 30_000).default(2_000),
});

export const statistics = mapping({
  enabled: onOff.default(true),
  retention_days: wholeNumber('days', 1, 3660).default(400),
  flush_interval_s: wholeNumber('seconds', 1, 300).default(10),
});

const REFRESH_MIN = '1h';
const REFRESH_MAX = '7d';
const refreshAllowed = `allowed: ${REFRESH_MIN} to ${REFRESH_MAX} (written as 90m, 6h, 1d), or never`;

/** How often `serve` reads the providers' SPF records again, in milliseconds; null for never. */
const refreshInterval = text(`a duration or never; ${refreshAllowed}`).transform((value, ctx): number | null => {
  if (value === 'never') return null;
  const ms = durationMs(value);
  if (ms !== undefined && ms >= durationMs(REFRESH_MIN)! && ms <= durationMs(REFRESH_MAX)!) return ms;
  ctx.addIssue({ code: 'custom', message: `${quote(value)} is not a refresh interval; ${refreshAllowed}` });
  return z.NEVER;
});

/** `providers:`: the provider ranges refreshed from their SPF records (RFC 7208), by `serve` and `providers refresh`. */
export const providers = mapping({
  refresh: refreshInterval.default(durationMs('24h')!),
  // The DNS servers to ask; the system's resolvers when empty.
  resolver: list(dnsServer, 'a list of DNS server addresses').default([]),
  timeout_ms: wholeNumber('milliseconds', 100, 30_000).default(5_000),
});
