import { isIP } from 'node:net';
import { quote } from '../text/quote.js';
import { mapping } from './issues.js';
import { list, onOff, text, wholeNumber } from './schema-values.js';

/** What the service finds out and keeps about who fetched the policy: `reverse_dns` and `statistics`. */

const dnsServer = text('a DNS server address such as 192.0.2.53 or 127.0.0.1:5353').refine(
  (value) => isIP(value) !== 0 || isIP(value.replace(/^\[(.*)\]:\d+$/, '$1').replace(/^([^:]+):\d+$/, '$1')) !== 0,
  { error: (issue) => `${quote(issue.input)} is not a DNS server address; write an IP address, optionally with :port` },
);

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
