import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { parseServerAddress, type ServerAddress } from '../net/server-address.js';
import type { CheckEnvironment } from './check-environment.js';
import { DnsLookup } from './dns-lookup.js';
import { checkDomain } from './domain-check.js';
import { SelfCheck } from './self-check.js';
import { trustAnchors } from './tls-peer.js';

/** Where the self-check looks, when not where the internet would (tests, private networks). */
export interface SelfCheckOverrides {
  resolver?: ServerAddress[];
  /** Extra trust anchors (a test CA), beside the system's roots. */
  ca?: string[];
  httpsPort?: number;
  smtpPort?: number;
  timeoutMs?: number;
  firstCheckDelayMs?: number;
}

/** Each network step of a check (a DNS question, an HTTPS fetch, an SMTP exchange) ends by then. */
const STEP_TIMEOUT_MS = 10_000;
/** The first round waits a minute after start: the listeners (and a new certificate) come first. */
const FIRST_CHECK_DELAY_MS = 60_000;

/**
 * The `health:` section's self-check, checking as `mta-sts-server check` does, with its gauges on
 * `registry` when the service has metrics (prom-client is loaded only then).
 */
export async function createSelfCheck(
  settings: Config['health'],
  context: { log: Logger; registry: Registry | undefined },
  overrides: SelfCheckOverrides = {},
): Promise<SelfCheck> {
  const timeoutMs = overrides.timeoutMs ?? STEP_TIMEOUT_MS;
  const environment: CheckEnvironment = {
    dns: new DnsLookup(overrides.resolver ?? settings.resolver.map((text) => parseServerAddress(text)!), timeoutMs),
    ca: trustAnchors(overrides.ca ?? []),
    httpsPort: overrides.httpsPort ?? 443,
    smtpPort: overrides.smtpPort ?? 25,
    timeoutMs,
    publicAddresses: settings.publicAddresses,
    ehloName: hostname(),
    now: Date.now,
  };
  const selfCheck = new SelfCheck({
    log: context.log,
    check: (served) => checkDomain(served, environment),
    intervalMs: settings.intervalMs,
    firstCheckDelayMs: overrides.firstCheckDelayMs ?? FIRST_CHECK_DELAY_MS,
    jitter: 0.1,
  });
  if (context.registry) (await import('./health-metrics.js')).registerHealthMetrics(context.registry, () => selfCheck.results());
  return selfCheck;
}
