import { mapping } from './issues.js';
import { dnsServer, list, onOff, wholeNumber } from './schema-values.js';

/** What the service finds out and keeps about who fetched the policy: `reverse_dns` and `statistics`. */

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
