import type { Logger } from 'pino';
import { readEnvironment } from '../config/environment.js';
import { loadStartConfig } from '../config/load.js';
import { ConfigReloader } from '../config/reloader.js';
import { startFetches } from '../fetches/fetches-from-config.js';
import { LiveFetches } from '../fetches/live-fetches.js';
import { ProviderRefresher } from '../fetches/provider-refresher.js';
import type { FetchPipeline } from '../fetches/pipeline.js';
import { createSelfCheck } from '../health/self-check-from-config.js';
import type { SelfCheck } from '../health/self-check.js';
import { createLogger } from '../log/logger.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import { trustedProxies } from '../net/trust-proxy.js';
import type { PolicySet } from '../policy/policy-set.js';
import { startTlsReports, type TlsReports } from '../reports/report-service.js';
import { Listeners } from '../server/listeners.js';
import { PolicyLifecycle } from '../lifecycle/policy-lifecycle.js';
import { openBackends } from '../storage/backends.js';
import { prepareStateDir, stateDirFailure, usesStateDir } from '../storage/state-dir.js';
import { certificateRows } from '../tls/certificate-rows.js';
import { Certificates } from '../tls/certificates.js';
import type { ServiceOptions } from './service-options.js';

/** Policy domains and certificates listed one by one in the start-up log; above this only counts (`dns` and `certs` list them). */
const LIST_UP_TO = 50;
/** The dashboard's live view: the requests it keeps for a page that opens, and the pages it feeds at once. */
const LIVE_FETCHES_KEPT = 200;
const LIVE_VIEWS = 16;

/**
 * The composition root: builds the parts from the config, starts them in order and stops them in
 * reverse. Each part owns its lifecycle; a reload reaches them only through the handlers below.
 */
/** What the root builds; each part starts and stops itself, and release() stops them in reverse. */
interface Parts {
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

export class Service {
  private constructor(
    readonly log: Logger,
    private readonly parts: Parts,
  ) {}

  /** Loads the config (throws ConfigError with located problems), prepares certificates and starts listening. */
  static async start(options: ServiceOptions): Promise<Service> {
    const env = options.env ?? process.env;
    const { config, warnings, text } = await loadStartConfig(options.configPath, env);
    const log = createLogger(config.logLevel, options.logDestination);
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
          store: backends.policyHistory,
          log,
          retireRemoved: config.retireRemovedDomains,
          ...options.lifecycleTiming,
        })
      : undefined;
    const certificates = new Certificates(config.tls, {
      stateDir: config.stateDir,
      storage: backends.storage,
      log,
      ...(options.acmeTiming && { acmeTiming: options.acmeTiming }),
    });
    let trustProxy = trustedProxies(config.trustProxy);
    const metrics = new ServiceMetrics({
      policies: () => reloader.policies,
      certificateFor: (host) => certificates.certificateFor(host),
    });
    const selfCheck = config.health.enabled
      ? createSelfCheck(config.health, { log, registry: metrics.registry }, options.selfCheck)
      : undefined;
    const reloader: ConfigReloader = new ConfigReloader({
      path: options.configPath,
      env,
      log,
      config,
      text,
      handlers: {
        apply: (next, policies) => {
          trustProxy = trustedProxies(next.trustProxy);
          log.level = next.logLevel;
          void certificates.serve(policies.hosts);
          lifecycle?.served(policies);
          selfCheck?.served(policies);
        },
        reloaded: (result) => metrics.reloaded(result),
        ...(lifecycle && { domainsToServe: (configured) => lifecycle.domainsToServe(configured) }),
        ...(selfCheck && { risks: (before, after) => selfCheck.risks(before, after) }),
      },
    });
    const live = new LiveFetches(LIVE_FETCHES_KEPT, LIVE_VIEWS);
    const { pipeline: fetches, logLimit } = await startFetches(config, {
      log,
      classifier: () => providers.classifier,
      sinks: [metrics, live],
      openStatistics: () => backends.openFetchStatistics('read-write'),
      logLimits: options.logLimits,
    });
    const reports = await startTlsReports({
      settings: config.reports,
      openStore: () => backends.openTlsReportStore('read-write'),
      policies: () => reloader.policies,
      imapPassword: readEnvironment(env).imapPassword,
      log,
      registry: metrics.registry,
    });
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
    const parts = { reloader, certificates, lifecycle, listeners, fetches, reports, selfCheck, providers };
    const service = new Service(log, parts);
    try {
      await certificates.prepare(reloader.policies.hosts);
      await listeners.start();
    } catch (error) {
      // A port in use, say: release what is already open (listeners, renewal timers, the
      // statistics database), so that the caller gets the error and nothing keeps running.
      await service.release();
      throw stateDirFailure(error, config.stateDir) ?? error;
    }
    listeners.announce(reloader.policies, LIST_UP_TO);
    certificates.listening(LIST_UP_TO);
    lifecycle?.start({ policies: () => reloader.policies, refresh: () => void reloader.refresh() });
    selfCheck?.start(() => reloader.policies);
    providers.start();
    reloader.start();
    return service;
  }

  get listeners(): Listeners {
    return this.parts.listeners;
  }

  /** The policy set being served right now. */
  get currentPolicies(): PolicySet {
    return this.parts.reloader.policies;
  }

  /**
   * Re-reads the config file (on change, SIGHUP, or a test); resolves when done, certificates for
   * new hosts included, and never rejects.
   */
  async reload(): Promise<void> {
    const { reloader, certificates, lifecycle } = this.parts;
    await reloader.reload();
    await certificates.settled();
    await lifecycle?.settled();
  }

  /** Stops accepting connections, lets in-flight requests finish, then closes. */
  async stop(): Promise<void> {
    await this.release();
    this.log.info({ event: 'service_stopped' }, 'stopped');
    this.log.flush();
  }

  /** Closes whatever is open, whether the service started fully or only in part: the start order, reversed. */
  private async release(): Promise<void> {
    const { reloader, providers, selfCheck, lifecycle, certificates, listeners, reports, fetches } = this.parts;
    reloader.stop();
    providers.stop();
    selfCheck?.stop();
    await lifecycle?.close();
    certificates.close();
    await listeners.stop();
    await reports?.close();
    // Fetches still waiting for their reverse DNS are counted before the last batch is written.
    await fetches.close();
  }
}
