import type { Logger } from 'pino';
import { receivesReports, type Config } from '../config/schema.js';
import { readEnvironment } from '../config/environment.js';
import { loadStartConfig } from '../config/load.js';
import { ConfigReloader } from '../config/reloader.js';
import { startFetches } from '../fetches/fetches-from-config.js';
import { LiveFetches } from '../fetches/live-fetches.js';
import { ProviderRefresher } from '../fetches/provider-refresher.js';
import type { FetchPipeline } from '../fetches/pipeline.js';
import { createSelfCheck } from '../health/self-check-from-config.js';
import type { SelfCheck } from '../health/self-check.js';
import { createLogDestination, createLogger, LogWriter } from '../log/logger.js';
import { trustedProxies } from '../net/trust-proxy.js';
import type { TlsReports } from '../reports/report-service.js';
import { Listeners } from '../server/listeners.js';
import { PolicyLifecycle } from '../lifecycle/policy-lifecycle.js';
import { openBackends } from '../storage/backends.js';
import { prepareStateDir, usesStateDir } from '../storage/state-dir.js';
import { certificateRows } from '../tls/certificate-rows.js';
import { Certificates } from '../tls/certificates.js';
import type { ServiceOptions } from './service-options.js';

/** The dashboard's live view: the requests it keeps for a page that opens, and the pages it feeds at once. */
const LIVE_FETCHES_KEPT = 200;
const LIVE_VIEWS = 16;

/** What the root builds; each part starts and stops itself, and Service (./service.ts) stops them in reverse. */
export interface Parts {
  reloader: ConfigReloader;
  certificates: Certificates;
  lifecycle: PolicyLifecycle | undefined;
  /** Their addresses, and readiness (every served host has its certificate). */
  listeners: Listeners;
  fetches: FetchPipeline;
  reports: TlsReports | undefined;
  selfCheck: SelfCheck | undefined;
  /** The provider list, refreshed from the providers' SPF records while the service runs. */
  providers: ProviderRefresher;
}

/**
 * The first half of the composition root: every part built from the config and wired to the
 * others (a reload reaches them only through the reloader's handlers below); nothing started yet.
 * src/service/service.ts starts them in order and stops them in reverse.
 */
export async function buildParts(options: ServiceOptions): Promise<{ log: Logger; config: Config; parts: Parts }> {
  const env = options.env ?? process.env;
  const { config, warnings, text, reuse } = await loadStartConfig(options.configPath, env);
  const { logDestination = createLogDestination } = options;
  const buffer = { bytes: config.logBufferBytes, flushIntervalMs: config.logFlushIntervalMs };
  const destination = typeof logDestination === 'function' ? logDestination(buffer) : logDestination;
  const log = createLogger(config.logLevel, destination);
  for (const warning of warnings) log.warn({ event: 'config_warning', warning }, warning);
  const keepsState = usesStateDir(config);
  if (keepsState) await prepareStateDir(config.stateDir);
  const backends = openBackends(config);
  const providers = await ProviderRefresher.open(config, {
    log,
    storage: keepsState ? backends.storage : undefined,
    ...(options.providersFile && { shipped: options.providersFile }),
    ...options.providerRefresh,
  });
  // The policy history lives in state_dir; with none, removed domains are simply dropped.
  const lifecycle = keepsState
    ? await PolicyLifecycle.open({
        ...(await backends.openPolicyHistory()),
        log,
        retireRemoved: config.retireRemovedDomains,
        ...options.lifecycleTiming,
      })
    : undefined;
  const certificates = await Certificates.open(config.tls, {
    stateDir: config.stateDir,
    storage: backends.storage,
    log,
    ...(options.acmeTiming && { acmeTiming: options.acmeTiming }),
  });
  let trustProxy = trustedProxies(config.trustProxy);
  // prom-client and the metrics load only with the admin listener, the one place they are read.
  const metrics = config.admin.enabled
    ? new (await import('../metrics/service-metrics.js')).ServiceMetrics({
        policies: () => reloader.policies,
        certificateFor: (host) => certificates.certificateFor(host),
      })
    : undefined;
  const selfCheck = config.health.enabled
    ? await createSelfCheck(config.health, { log, registry: metrics?.registry }, options.selfCheck)
    : undefined;
  const reloader: ConfigReloader = new ConfigReloader({
    path: options.configPath,
    env,
    log,
    config,
    text,
    reuse,
    handlers: {
      apply: (next, policies) => {
        trustProxy = trustedProxies(next.trustProxy);
        log.level = next.logLevel;
        void certificates.serve(policies.hosts);
        lifecycle?.served(policies);
        selfCheck?.served(policies);
      },
      reloaded: (result) => metrics?.reloaded(result),
      ...(lifecycle && { domainsToServe: (configured) => lifecycle.domainsToServe(configured) }),
      ...(selfCheck && { risks: (before, after) => selfCheck.risks(before, after) }),
    },
  });
  const gathersLines = destination instanceof LogWriter && destination.buffered;
  const live = new LiveFetches(LIVE_FETCHES_KEPT, LIVE_VIEWS);
  const { pipeline: fetches, logLimit } = await startFetches(config, {
    log,
    classifier: () => providers.classifier,
    // The metrics and the live view are read on the admin listener: without it, a fetch goes to neither.
    sinks: metrics ? [metrics, live] : [],
    openStatistics: () => backends.openFetchStatistics('read-write'),
    logLimits: options.logLimits,
    // Its lines are late anyway: fetches are recorded once per turn of the event loop, and before every write-out.
    batched: gathersLines,
  });
  if (gathersLines) destination.gatherFrom(() => fetches.drain());
  // The report intake and its parsers load only for a service that receives reports.
  const reports = receivesReports(config.reports)
    ? await (
        await import('../reports/report-service.js')
      ).startTlsReports({
        settings: config.reports,
        openStore: () => backends.openTlsReportStore('read-write'),
        policies: () => reloader.policies,
        imapPassword: readEnvironment(env).imapPassword,
        log,
        registry: metrics?.registry,
      })
    : undefined;
  const listeners = new Listeners({
    log,
    listen: config.listen,
    admin: config.admin,
    policies: () => reloader.policies,
    trustProxy: (address) => trustProxy(address),
    recordFetch: fetches.record,
    tlsReports: reports?.https,
    smtpReports: reports?.smtp && { ...reports.smtp, admitLine: (ip) => logLimit.admit(ip) },
    certificates,
    metrics,
    dashboard: {
      policies: () => reloader.policies,
      classifier: () => providers.classifier,
      certificateFor: (host) => certificates.certificateFor(host),
      certificateRow: async (host) => (await certificateRows(config, [host]))[0]!,
      openFetchStatistics: () => backends.openFetchStatistics('read-only'),
      openTlsReportStore: () => backends.openTlsReportStore('read-only'),
      lifecycle,
      healthChecks: selfCheck && (() => selfCheck.results()),
      receivers: { smtp: config.reports.smtp.enabled, https: config.reports.https.enabled },
      live,
    },
    connectionLimits: options.connectionLimits,
  });
  return { log, config, parts: { reloader, certificates, lifecycle, listeners, fetches, reports, selfCheck, providers } };
}
