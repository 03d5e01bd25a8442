import { z } from 'zod';
import { normaliseDomainName } from '../policy/domain-name.js';
import type { DomainPolicy } from '../policy/policy.js';
import { quote } from '../text/quote.js';
import { healthSchema } from './health-schema.js';
import { defaultsWhenAbsent, mapping } from './issues.js';
import { checkDomainNames, defaults, domains } from './schema-domains.js';
import { providers, reverseDns, statistics } from './schema-fetches.js';
import { admin, listen, trustProxy } from './schema-listeners.js';
import { reports } from './schema-reports.js';
import { tls } from './schema-tls.js';
import { onOff, text, wholeNumber } from './schema-values.js';

/**
 * The config file's shape: its sections (each in its own schema-*.ts) and the transform into the
 * Config the service runs on. Its key names are the interface users and docs rely on; every
 * message is shown after "file:line:column field.path:", so it says what is allowed.
 */

export { receivesReports } from './schema-reports.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_BUFFER_MIN = 512;
const LOG_BUFFER_MAX = 1_048_576;
const logBufferAllowed =
  `allowed: 0 (every line written as it is logged) or ${LOG_BUFFER_MIN} to ${LOG_BUFFER_MAX} bytes ` +
  '(lines gathered into writes of that size)';
const logBufferBytes = z
  .number({ error: (issue) => `${quote(issue.input)} is not a number; ${logBufferAllowed}` })
  .int({ error: (issue) => `${quote(issue.input)} is not a whole number; ${logBufferAllowed}` })
  .refine((bytes) => bytes === 0 || (bytes >= LOG_BUFFER_MIN && bytes <= LOG_BUFFER_MAX), {
    error: (issue) =>
      `${quote(issue.input)} ${(issue.input as number) > LOG_BUFFER_MAX ? 'is too large' : 'is too small'}; ${logBufferAllowed}`,
  });
const log = mapping({
  level: z
    .enum(LOG_LEVELS, { error: (issue) => `${quote(issue.input)} is not a log level; allowed: ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  // 0: each line is one write to stdout, so kill -9 loses none; more: fewer writes, and kill -9
  // loses what is gathered (at most flush_interval_ms of lines).
  buffer_bytes: logBufferBytes.default(0),
  // With buffer_bytes: how late a gathered line is written at most.
  flush_interval_ms: wholeNumber('milliseconds', 10, 60_000).default(1_000),
});

export const configSchema = mapping({
  defaults: defaultsWhenAbsent(defaults),
  domains,
  listen: defaultsWhenAbsent(listen),
  tls: tls.default({ source: 'self-signed' }),
  state_dir: text('a directory path').min(1, { error: 'must not be empty' }).default('/var/lib/mta-sts'),
  trust_proxy: trustProxy.default([]),
  log: defaultsWhenAbsent(log),
  // The admin listener: Prometheus metrics on loopback unless told otherwise.
  admin: defaultsWhenAbsent(admin),
  // Your own providers, in the format of config/providers.yaml: same ids replace shipped entries, new ids are added.
  providers_file: text('the path of a YAML file of providers (format of config/providers.yaml)').optional(),
  // Provider ranges read again from their SPF records (the `spf:` of each provider), by serve and `providers refresh`.
  providers: defaultsWhenAbsent(providers),
  // Reverse DNS of fetching addresses, to confirm who fetched (the system's resolvers unless servers are given).
  reverse_dns: defaultsWhenAbsent(reverseDns),
  // Fetch counts per domain, provider and day in the state directory (`mta-sts-server stats`).
  statistics: defaultsWhenAbsent(statistics),
  // TLS reports (RFC 8460) received and kept in the state directory (`mta-sts-server reports`).
  reports: defaultsWhenAbsent(reports),
  // RFC 8461 §8.3: a domain removed from the config is served as mode none until senders' caches expire.
  retire_removed_domains: onOff.default(true),
  // Checks of each domain from the outside: DNS records, the policy host, the MX hosts (`mta-sts-server check`).
  health: healthSchema,
})
  // Runs even when other fields failed, so that every problem in the file is reported at once.
  .superRefine(checkDomainNames, { when: () => true })
  .transform((raw) => ({
    domains: Object.entries(raw.domains).map(([key, settings]): DomainPolicy => ({
      name: (normaliseDomainName(key) as { name: string }).name,
      policy: {
        mode: settings?.mode ?? raw.defaults.mode,
        mx: settings?.mx ?? [],
        maxAge: settings?.max_age ?? raw.defaults.max_age,
      },
      tlsRptRua: settings?.tlsrpt?.rua ?? raw.defaults.tlsrpt?.rua ?? [],
    })),
    listen: raw.listen,
    tls: raw.tls,
    stateDir: raw.state_dir,
    trustProxy: raw.trust_proxy,
    logLevel: raw.log.level,
    logBufferBytes: raw.log.buffer_bytes,
    logFlushIntervalMs: raw.log.flush_interval_ms,
    admin: raw.admin,
    reverseDns: raw.reverse_dns,
    statistics: raw.statistics,
    reports: raw.reports,
    providersFile: raw.providers_file,
    providerRefresh: { intervalMs: raw.providers.refresh, resolver: raw.providers.resolver, timeoutMs: raw.providers.timeout_ms },
    retireRemovedDomains: raw.retire_removed_domains,
    health: raw.health,
  }));

export type Config = z.output<typeof configSchema>;
export type TlsSettings = Config['tls'];
