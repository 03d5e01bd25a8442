import { access, constants, mkdir } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { ConfigEnvironment } from '../config/environment.js';
import { loadConfigText, readConfigText } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { formatZoneLine, stsTxtRecord } from '../dns/records.js';
import { createFetchLog, type Attribution, type PolicyFetch } from '../fetches/fetch-log.js';
import { FetchStatisticsRecorder, isCountedFetch } from '../fetches/fetch-statistics.js';
import { LogLimit, type LogLimits } from '../fetches/log-limit.js';
import { SqliteFetchStatistics } from '../fetches/sqlite-fetch-statistics.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE } from '../fetches/providers.js';
import { diffPolicySets, isEmptyDiff } from '../policy/policy-diff.js';
import { PolicySet } from '../policy/policy-set.js';
import { AcmeChallengeTokens } from '../server/acme-challenges.js';
import { buildApp } from '../server/app.js';
import { buildAdminApp } from '../server/admin-app.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import { ReverseDns } from '../fetches/reverse-dns.js';
import { closeConnectionsWithoutRequest, type ConnectionLimits } from '../server/node-server.js';
import type { Readiness } from '../server/health-routes.js';
import type { ServedCertificate } from '../server/tls-options.js';
import { watchFiles, type Watch } from '../storage/watch.js';
import { CertificateCache } from '../tls/certificate-cache.js';
import { createCertificateSource, type CertificateSource } from '../tls/sources.js';
import type { MaintenanceTiming } from '../tls/acme/maintenance.js';
import { printable } from '../text/printable.js';
import { createLogger } from './logger.js';
import { trustedProxies } from './trust-proxy.js';

/** What the `service_failed` line says besides the reason: the setting to blame and what it names. */
export interface StartFailureFields {
  /** The config field to blame: `listen.https`, `admin.port`, `state_dir`, ... */
  setting?: string;
  /** Located problems (`file:line:column field.path: message`) when the config is invalid. */
  errors?: string[];
  address?: string;
  port?: number;
  path?: string;
  /** The system's error code, such as EADDRINUSE. */
  code?: string;
}

/** Why the service did not start: the reason a person can act on, and the exit status. */
export class StartError extends Error {
  readonly code: string | undefined;

  constructor(
    reason: string,
    readonly fields: StartFailureFields = {},
    /** 2 for an invalid config, as check-config exits; 1 for everything else. */
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(reason);
    this.code = fields.code;
  }
}

export class ConfigError extends StartError {
  constructor(readonly problems: string[]) {
    super(
      `the config has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was started`,
      { errors: problems },
      2,
    );
  }
}

export interface ServiceOptions {
  configPath: string;
  /** Where log lines go; stdout by default. Tests pass a stream to read them. */
  logDestination?: DestinationStream;
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
}

/** Policy domains listed one by one in the start-up log; above this only the count (`mta-sts-server dns` lists them). */
const LIST_DOMAINS_UP_TO = 50;

/**
 * The running service: config → policies → two listeners → log. A reload swaps the policy set
 * and the certificate hosts in place; listeners and open connections stay as they are.
 */
export class Service {
  private policies: PolicySet;
  private lastConfigText: string | undefined;
  private lastConfigProblem: string | undefined;
  private configWatch: Watch | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly reverseDns: ReverseDns | undefined;
  private logLimit: LogLimit | undefined;

  private constructor(
    private readonly options: ServiceOptions,
    private config: Config,
    readonly log: Logger,
    private readonly certificates: CertificateCache,
    private readonly certificateSource: CertificateSource,
    private readonly classifier: ProviderClassifier,
    private trustProxy: (address: string) => boolean,
    private readonly challenges: AcmeChallengeTokens,
    private readonly statistics: FetchStatisticsRecorder | undefined,
  ) {
    this.policies = new PolicySet(config.domains);
    this.reverseDns = config.reverseDns.enabled
      ? new ReverseDns({
          servers: config.reverseDns.servers,
          timeoutMs: config.reverseDns.timeout_ms,
          maxInFlight: 32,
          maxQueued: 10_000,
          ttlMs: 60 * 60_000,
          maxEntries: 10_000,
        })
      : undefined;
  }

  /** Loads the config (throws ConfigError with located problems), prepares certificates and starts listening. */
  static async start(options: ServiceOptions): Promise<Service> {
    const text = await readConfigText(options.configPath);
    if (!text.ok) throw new ConfigError([text.problem]);
    const loaded = loadConfigText(text.text, options.configPath, environmentOf(options));
    if (!loaded.ok) throw new ConfigError(loaded.errors);
    const { config } = loaded;
    const log = createLogger(config.logLevel, options.logDestination);
    for (const warning of loaded.warnings) log.warn({ event: 'config_warning', warning }, warning);
    const classifier = await ProviderClassifier.fromFiles([
      options.providersFile ?? SHIPPED_PROVIDERS_FILE,
      ...(config.providersFile ? [config.providersFile] : []),
    ]).catch((error: Error) => Promise.reject(new ConfigError(error.message.split('\n'))));
    if (usesStateDir(config)) await prepareStateDir(config.stateDir);
    const certificates = new CertificateCache();
    const challenges = new AcmeChallengeTokens();
    const source = createCertificateSource(config.tls, {
      stateDir: config.stateDir,
      cache: certificates,
      log,
      challenges,
      ...(options.acmeTiming && { acmeTiming: options.acmeTiming }),
    });
    const statistics = config.statistics.enabled ? await startFetchStatistics(config, log) : undefined;
    const service = new Service(
      options,
      config,
      log,
      certificates,
      source,
      classifier,
      trustedProxies(config.trustProxy),
      challenges,
      statistics,
    );
    service.lastConfigText = text.text;
    try {
      await source.sync(service.policies.hosts);
      await service.listen();
    } catch (error) {
      // A port in use, say: release what is already open (listeners, renewal timers, the
      // statistics database), so that the caller gets the error and nothing keeps running.
      await service.release();
      throw stateDirFailure(error, config.stateDir) ?? error;
    }
    service.logCertificateExpiry();
    source.listening();
    service.watchConfig();
    return service;
  }

  private httpsApp: FastifyInstance | undefined;
  private httpApp: FastifyInstance | undefined;
  private adminApp: FastifyInstance | undefined;
  private readonly metrics = new ServiceMetrics({
    policies: () => this.policies,
    certificateFor: (host) => this.certificates.certificateFor(host),
  });

  /** Statistics count what a sender takes home: a GET answered with a policy. */
  private countFetch(fetch: PolicyFetch, attribution: Attribution): void {
    if (!isCountedFetch(fetch)) return;
    this.statistics!.record({
      atMs: Date.now(),
      domain: fetch.domain,
      provider: attribution.provider,
      ip: fetch.ip,
      policyId: fetch.policyId,
      claimed: attribution.claimed,
    });
  }

  private async listen(): Promise<void> {
    const common = {
      logger: this.log,
      policies: () => this.policies,
      readiness: () => this.readiness(),
      trustProxy: (address: string) => this.trustProxy(address),
      connectionLimits: this.options.connectionLimits,
    };
    this.logLimit = new LogLimit(this.log, this.options.logLimits);
    this.httpsApp = await buildApp({
      ...common,
      listener: 'https',
      tls: { certificateFor: (servername) => this.selectCertificate(servername) },
      recordFetch: createFetchLog(this.log, this.classifier, {
        observe: (fetch, verdict) => this.metrics.fetched(fetch, verdict),
        limit: this.logLimit,
        ...(this.reverseDns && { reverseDns: this.reverseDns }),
        ...(this.statistics && { attributed: (fetch, attribution) => this.countFetch(fetch, attribution) }),
      }),
    });
    this.httpApp = await buildApp({
      ...common,
      listener: 'http',
      challenges: this.challenges,
      httpsPort: this.config.listen.https,
    });
    const { address, https, http } = this.config.listen;
    await listenOn(this.httpsApp, { port: 'listen.https', address: 'listen.address' }, address, https, this.log);
    await listenOn(this.httpApp, { port: 'listen.http', address: 'listen.address' }, address, http, this.log);
    const { admin } = this.config;
    if (admin.enabled) {
      this.adminApp = await buildAdminApp({
        logger: this.log,
        metrics: this.metrics,
        token: admin.token,
        connectionLimits: this.options.connectionLimits,
      });
      await listenOn(this.adminApp, { port: 'admin.port', address: 'admin.address' }, admin.address, admin.port, this.log);
    }
    const domains = [...this.policies.policies];
    this.log.info(
      {
        event: 'service_started',
        https: this.httpsAddress,
        http: this.httpAddress,
        admin: this.adminAddress ?? null,
        domains: domains.length,
        ...(domains.length <= LIST_DOMAINS_UP_TO && {
          publish: domains.map((served) => formatZoneLine(stsTxtRecord(served.domain, served.id))),
        }),
      },
      `serving ${domains.length} MTA-STS polic${domains.length === 1 ? 'y' : 'ies'}`,
    );
  }

  /**
   * A pending TLS-ALPN-01 validation for the host takes the handshake (the CA connects only for
   * seconds); otherwise the host's certificate. The SNI callback cannot see the client's ALPN
   * list, so ordinary clients of that host get the challenge certificate during those seconds.
   */
  private selectCertificate(servername: string): ServedCertificate | undefined {
    return this.challenges.alpnCertificate(servername) ?? this.certificates.certificateFor(servername);
  }

  /** One line per certificate at start, so expiry is visible in the log without running `certs`. */
  private logCertificateExpiry(): void {
    const certificates = this.certificates.all().sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
    const daysLeft = (notAfter: Date) => Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
    if (certificates.length > LIST_DOMAINS_UP_TO) {
      const earliest = certificates[0]!;
      this.log.info(
        {
          event: 'certificate_status',
          certificates: certificates.length,
          earliest_not_after: earliest.notAfter.toISOString(),
          days_left: daysLeft(earliest.notAfter),
        },
        `${certificates.length} certificates loaded; the first expires ${earliest.notAfter.toISOString()} (mta-sts-server certs lists them)`,
      );
      return;
    }
    for (const certificate of certificates) {
      this.log.info(
        {
          event: 'certificate_status',
          names: certificate.dnsNames,
          issuer: certificate.issuer,
          not_after: certificate.notAfter.toISOString(),
          days_left: daysLeft(certificate.notAfter),
        },
        `certificate for ${certificate.dnsNames.join(', ')} valid until ${certificate.notAfter.toISOString()}`,
      );
    }
  }

  get httpsAddress(): AddressInfo {
    return this.httpsApp!.server.address() as AddressInfo;
  }

  get httpAddress(): AddressInfo {
    return this.httpApp!.server.address() as AddressInfo;
  }

  /** The admin (metrics) listener, when enabled. */
  get adminAddress(): AddressInfo | undefined {
    return this.adminApp?.server.address() as AddressInfo | undefined;
  }

  /** The policy set being served right now. */
  get currentPolicies(): PolicySet {
    return this.policies;
  }

  readiness(): Readiness {
    const hostsWithoutCertificate = this.policies.hosts.filter((host) => !this.certificates.certificateFor(host)).length;
    return { ready: hostsWithoutCertificate === 0, hostsWithoutCertificate };
  }

  private watchConfig(): void {
    this.configWatch = watchFiles([this.options.configPath], () => void this.reload());
  }

  /**
   * Re-reads the config file (on change, SIGHUP, or a test). Reloads run one at a time, and one
   * that fails in any way is logged and leaves the queue working: the next edit is read as usual.
   * The promise resolves when this reload is done; it never rejects.
   */
  reload(): Promise<void> {
    const run = this.reloading.then(() => this.reloadNow());
    // The second catch: even a failure to log the failure must not stop the reloads after it.
    this.reloading = run.catch((error: unknown) => this.reportReloadFailure(error)).catch(() => undefined);
    return this.reloading;
  }

  /** Not a problem in the file (those are located errors) but in applying it: logged, and the last good config stays. */
  private reportReloadFailure(error: unknown): void {
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.reportConfigProblem('config_error', [`${this.options.configPath}: the reload failed: ${printable(what, 160)}`]);
  }

  private async reloadNow(): Promise<void> {
    const path = this.options.configPath;
    const read = await readConfigText(path);
    if (!read.ok) return this.reportConfigProblem('config_unreadable', [read.problem]);
    if (read.text === this.lastConfigText) return this.recovered(false);
    const loaded = loadConfigText(read.text, path, environmentOf(this.options));
    if (!loaded.ok) return this.reportConfigProblem('config_invalid', loaded.errors);
    this.apply(loaded.config, loaded.warnings, read.text);
  }

  private reportConfigProblem(event: string, errors: string[]): void {
    this.metrics.reloaded('rejected');
    // Polling sees the same broken file every few seconds; say it once until it changes.
    const problem = errors.join('\n');
    if (problem === this.lastConfigProblem) return;
    this.lastConfigProblem = problem;
    this.log.error({ event, errors }, 'config not applied; still serving the last good config');
  }

  /**
   * A good config after a bad one: said once, so that the log shows where a problem ended, and
   * forgotten, so that the same mistake made again is reported again. `applied` is false when the
   * file is back to the text already served (nothing to reload).
   */
  private recovered(applied: boolean): void {
    if (this.lastConfigProblem === undefined) return;
    this.lastConfigProblem = undefined;
    this.log.info(
      { event: 'config_recovered', applied },
      applied ? 'the config is valid again and applied' : 'the config is valid again; it is the config already served',
    );
  }

  private apply(next: Config, warnings: string[], text: string): void {
    const nextPolicies = new PolicySet(next.domains);
    const diff = diffPolicySets(this.policies, nextPolicies);
    const restartOnly = restartOnlyChanges(this.config, next);
    this.policies = nextPolicies;
    this.trustProxy = trustedProxies(next.trustProxy);
    this.log.level = next.logLevel;
    this.config = {
      ...next,
      listen: this.config.listen,
      tls: this.config.tls,
      stateDir: this.config.stateDir,
      admin: this.config.admin,
      reverseDns: this.config.reverseDns,
      statistics: this.config.statistics,
      providersFile: this.config.providersFile,
    };
    this.lastConfigText = text;
    this.recovered(true);
    this.metrics.reloaded('applied');
    for (const warning of warnings) this.log.warn({ event: 'config_warning', warning }, warning);
    if (restartOnly.length > 0) {
      this.log.warn(
        { event: 'config_restart_required', settings: restartOnly },
        `changes to ${restartOnly.join(', ')} take effect after a restart`,
      );
    }
    this.log.info(
      {
        event: 'config_reloaded',
        domains: nextPolicies.size,
        domains_added: diff.domains_added,
        domains_removed: diff.domains_removed,
        changed: diff.changed,
        publish: diff.publish.map(({ domain, policy_id }) => formatZoneLine(stsTxtRecord(domain, policy_id))),
      },
      isEmptyDiff(diff)
        ? 'config reloaded; no policy changed'
        : `config reloaded: ${diff.domains_added.length} added, ${diff.domains_removed.length} removed, ${diff.changed.length} changed; publish the new _mta-sts TXT records`,
    );
    this.certificateSource.sync(nextPolicies.hosts).catch((error: Error) => {
      this.log.error({ event: 'certificate_error', error: error.message }, 'could not prepare certificates for the new hosts');
    });
  }

  /** Stops accepting connections, lets in-flight requests finish, then closes. */
  async stop(): Promise<void> {
    await this.release();
    this.log.info({ event: 'service_stopped' }, 'stopped');
    this.log.flush();
  }

  /** Closes whatever is open, whether the service started fully or only in part. */
  private async release(): Promise<void> {
    this.configWatch?.close();
    this.certificateSource.close();
    // Connections without a request in progress would hold the stop until their idle timeout;
    // close each one as soon as it has none, so in-flight requests finish and nothing else waits.
    const apps = [this.httpsApp, this.httpApp, this.adminApp].filter((app) => app !== undefined);
    const closeIdle = setInterval(() => {
      for (const app of apps) closeConnectionsWithoutRequest(app.server);
    }, 100);
    try {
      await Promise.all(apps.map((app) => Promise.all([app.close(), closeServer(app.server)])));
    } finally {
      clearInterval(closeIdle);
    }
    // Fetches still waiting for their reverse DNS are counted before the last batch is written.
    await this.reverseDns?.drain();
    this.logLimit?.close();
    await this.statistics?.close();
  }
}

/** The environment the config is read with, at start and at every reload alike. */
function environmentOf(options: ServiceOptions): ConfigEnvironment {
  return options.env ?? process.env;
}

function restartOnlyChanges(current: Config, next: Config): string[] {
  const changed: string[] = [];
  if (JSON.stringify(current.listen) !== JSON.stringify(next.listen)) changed.push('listen');
  if (JSON.stringify(current.tls) !== JSON.stringify(next.tls)) changed.push('tls');
  if (current.stateDir !== next.stateDir) changed.push('state_dir');
  if (JSON.stringify(current.admin) !== JSON.stringify(next.admin)) changed.push('admin');
  if (JSON.stringify(current.reverseDns) !== JSON.stringify(next.reverseDns)) changed.push('reverse_dns');
  if (current.providersFile !== next.providersFile) changed.push('providers_file');
  if (JSON.stringify(current.statistics) !== JSON.stringify(next.statistics)) changed.push('statistics');
  return changed;
}

/**
 * The statistics store, or none: a database that cannot be opened (unwritable state directory,
 * a newer schema) must not keep the policy from being served, so the service starts without it.
 */
async function startFetchStatistics(config: Config, log: Logger): Promise<FetchStatisticsRecorder | undefined> {
  let store: SqliteFetchStatistics;
  try {
    store = SqliteFetchStatistics.open(config.stateDir);
  } catch (error) {
    log.error(
      { event: 'fetch_statistics_unavailable', error: (error as Error).message },
      'fetch statistics are off until the state database can be opened; the policies are served as usual',
    );
    return undefined;
  }
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: config.statistics.flush_interval_s * 1000,
    retentionDays: config.statistics.retention_days,
    log,
  });
  await recorder.start();
  return recorder;
}

/** Which config fields chose a listener's port and address, for a message when it cannot listen. */
interface ListenerSettings {
  port: 'listen.https' | 'listen.http' | 'admin.port';
  address: 'listen.address' | 'admin.address';
}

/**
 * Binds the app's server. Not with app.listen(): Fastify logs a "listening at" line per listener,
 * so a start that then fails on another port would have announced a listener it closes again; the
 * addresses are announced once, in service_started. Fastify leaves a server from its
 * serverFactory that it did not start to its owner: release() closes it.
 */
async function listenOn(
  app: FastifyInstance,
  settings: ListenerSettings,
  host: string,
  port: number,
  log: Logger,
): Promise<void> {
  await app.ready();
  try {
    await bind(app.server, host, port);
  } catch (error) {
    // "::" needs IPv6 in the kernel; some containers run without it. Serve IPv4 rather than nothing.
    if (host !== '::' || (error as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT')
      throw listenFailure(error, settings, host, port);
    log.warn({ event: 'ipv6_unavailable' }, 'IPv6 is not available here; listening on IPv4 only');
    await bind(app.server, '0.0.0.0', port).catch((fallbackError: unknown) => {
      throw listenFailure(fallbackError, settings, '0.0.0.0', port);
    });
  }
}

function bind(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting connections; resolves once the open ones have ended (a server never started counts as closed). */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port in use or not allowed, or an address this machine does not have, named by the setting that chose it. */
function listenFailure(error: unknown, settings: ListenerSettings, address: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new StartError(`${settings.port}: cannot listen on ${where}: another program uses port ${port}`, {
        setting: settings.port,
        address,
        port,
        code,
      });
    case 'EACCES':
    case 'EPERM': {
      const privileged =
        port < 1024
          ? '; ports below 1024 need root, CAP_NET_BIND_SERVICE or a lower net.ipv4.ip_unprivileged_port_start (Docker sets 0), or choose a port above 1023'
          : '';
      return new StartError(`${settings.port}: not permitted to listen on ${where}${privileged}`, {
        setting: settings.port,
        address,
        port,
        code,
      });
    }
    case 'EADDRNOTAVAIL':
      return new StartError(`${settings.address}: ${address} is not an address of this machine`, {
        setting: settings.address,
        address,
        port,
        code,
      });
    default:
      return error;
  }
}

/** Self-signed and ACME certificates and the statistics database live in state_dir; certificate files with statistics off need none. */
function usesStateDir(config: Config): boolean {
  return config.tls.source !== 'files' || config.statistics.enabled;
}

/** Makes state_dir, and makes sure this user can write there, before anything is written to it. */
async function prepareStateDir(stateDir: string): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await access(stateDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw stateDirFailure(error, stateDir) ?? error;
  }
}

const STATE_DIR_PROBLEMS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'part of the path is a file, not a folder',
  EEXIST: 'it is a file, not a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/** A file-system error in state_dir as a state_dir problem; undefined for any other error. */
function stateDirFailure(error: unknown, stateDir: string): StartError | undefined {
  const { code, path } = error as NodeJS.ErrnoException;
  const problem = code === undefined ? undefined : STATE_DIR_PROBLEMS[code];
  if (problem === undefined || path === undefined || (path !== stateDir && !path.startsWith(`${stateDir}/`))) return undefined;
  const user = process.getuid ? ` (uid ${process.getuid()})` : '';
  const at = path !== stateDir ? ` at ${path}` : '';
  return new StartError(`state_dir ${stateDir}: ${problem}${at}; it must be a folder the service's user${user} can write to`, {
    setting: 'state_dir',
    path: stateDir,
    code,
  });
}
