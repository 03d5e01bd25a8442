import type { DestinationStream } from 'pino';
import type { ConfigEnvironment } from '../config/environment.js';
import type { LogLimits } from '../fetches/log-limit.js';
import type { LogBuffer } from '../log/logger.js';
import type { ProviderRefresherOptions } from '../fetches/provider-refresher.js';
import type { SelfCheckOverrides } from '../health/self-check-from-config.js';
import type { PolicyLifecycleOptions } from '../lifecycle/policy-lifecycle.js';
import type { ConnectionLimits } from '../server/node-server.js';
import type { MaintenanceTiming } from '../tls/acme/maintenance.js';

/** What the caller of Service.start (the `serve` command, the tests) sets beyond the config file. */
export interface ServiceOptions {
  configPath: string;
  /**
   * Where log lines go: a stream (tests read it), or what makes it from the config's log buffer
   * settings (serve, which writes a failed start's line to it too); stdout as configured by default.
   */
  logDestination?: DestinationStream | ((buffer: LogBuffer) => DestinationStream);
  /** Provider data file; the shipped one by default. */
  providersFile?: string;
  /** ACME renewal timing; tests shorten it. */
  acmeTiming?: Partial<MaintenanceTiming>;
  /** Timeouts for slow and idle clients of every listener (policy, port 80, admin); tests shorten them. */
  connectionLimits?: Partial<ConnectionLimits>;
  /** Lines of requests that are not policy fetches, per address and window; tests shorten the window. */
  logLimits?: Partial<LogLimits>;
  /** Environment for secrets given outside the config file (MTA_STS_ADMIN_TOKEN); process.env by default. */
  env?: ConfigEnvironment;
  /** The policy lifecycle's clock and interval; tests move the clock and shorten the interval. */
  lifecycleTiming?: Pick<PolicyLifecycleOptions, 'now' | 'intervalMs'>;
  /** Where the self-check (health.enabled) looks: tests point it at their own DNS, CA and ports. */
  selfCheck?: SelfCheckOverrides;
  /** Where and when the provider refresh asks: tests pass their DNS and a first delay of 0. */
  providerRefresh?: Pick<ProviderRefresherOptions, 'dns' | 'firstDelayMs' | 'now'>;
}
