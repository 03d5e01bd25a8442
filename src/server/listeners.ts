import type { AddressInfo, Server } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { StartError } from '../config/start-error.js';
import type { DashboardSources } from '../dashboard/dashboard-sources.js';
import { formatZoneLine, stsTxtRecord } from '../dns/records.js';
import type { FetchRecorder } from '../fetches/fetch-log.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { ReportIntake } from '../reports/intake.js';
import type { SmtpReceiver } from '../reports/smtp-receiver.js';
import type { ServedCertificate } from '../tls/certificate.js';
import { buildApp } from './app.js';
import type { Readiness } from './health-routes.js';
import { closeConnectionsWithoutRequest, type ConnectionLimits } from './node-server.js';
import type { KeyAuthorizationLookup } from './redirect-routes.js';
import type { TlsRptEndpoint } from './tlsrpt-routes.js';

export interface ListenersOptions {
  log: Logger;
  listen: Config['listen'];
  admin: Config['admin'];
  policies: () => PolicySet;
  /** Whether a peer may set X-Forwarded-For / Forwarded; asked per request, so reloads apply. */
  trustProxy: (address: string) => boolean;
  recordFetch: FetchRecorder;
  /** POST /tlsrpt (RFC 8460 §3) on the policy listener, when reports.https is enabled. */
  tlsReports?: TlsRptEndpoint | undefined;
  certificates: CertificateLookup;
  /** The service's metrics, served on the admin listener; made only when it is enabled. */
  metrics: ServiceMetrics | undefined;
  /** What the admin listener's dashboard reads; without it the admin listener serves the metrics only. */
  dashboard?: DashboardSources | undefined;
  connectionLimits?: Partial<ConnectionLimits> | undefined;
  /** The receiver of TLS reports by mail (RFC 8460 §3, rua=mailto:), when reports.smtp is enabled. */
  smtpReports?: SmtpReportsOptions | undefined;
}

/** What the listeners ask of the certificate cache (src/tls/certificates.ts answers). */
export interface CertificateLookup {
  /** The certificate of a host from the cache. */
  certificateFor(host: string): ServedCertificate | undefined;
  /** A pending TLS-ALPN-01 challenge's certificate for a host (RFC 8737). */
  challengeCertificate(host: string): ServedCertificate | undefined;
  /** A pending HTTP-01 challenge's key authorization for a token (RFC 8555 §8.3). */
  keyAuthorization(token: string): ReturnType<KeyAuthorizationLookup>;
}

export interface SmtpReportsOptions {
  settings: Config['reports']['smtp'];
  intake: Pick<ReportIntake, 'receiveMessage'>;
  /** The policy domains served now: tlsrpt@mta-sts.<domain> is accepted for each. */
  domains: () => ReadonlySet<string>;
  /** Whether a line about a client address may be written now (the per-address log budget). */
  admitLine: (ip: string) => boolean;
}

/**
 * The service's listeners: policies over HTTPS, ACME challenges and redirects on port 80, metrics
 * on the admin port, and TLS reports by mail on port 25 when enabled.
 */
export class Listeners {
  private readonly apps: FastifyInstance[] = [];
  private https: FastifyInstance | undefined;
  private http: FastifyInstance | undefined;
  private admin: FastifyInstance | undefined;
  private smtp: SmtpReceiver | undefined;

  constructor(private readonly options: ListenersOptions) {}

  /** Builds the apps and binds them, in order; a failure names the setting that chose the port or address. */
  async start(): Promise<void> {
    const { log, listen, admin, connectionLimits, certificates } = this.options;
    const common = {
      logger: log,
      policies: this.options.policies,
      readiness: () => this.readiness(),
      trustProxy: this.options.trustProxy,
      connectionLimits,
    };
    this.https = this.track(
      await buildApp({
        ...common,
        listener: 'https',
        tls: { certificateFor: (servername) => this.selectCertificate(servername) },
        recordFetch: this.options.recordFetch,
        tlsReports: this.options.tlsReports,
      }),
    );
    this.http = this.track(
      await buildApp({
        ...common,
        listener: 'http',
        keyAuthorization: (token) => certificates.keyAuthorization(token),
        httpsPort: listen.https,
      }),
    );
    await listenOn(this.https, { port: 'listen.https', address: 'listen.address' }, listen.address, listen.https, log);
    await listenOn(this.http, { port: 'listen.http', address: 'listen.address' }, listen.address, listen.http, log);
    if (admin.enabled) {
      const { metrics } = this.options;
      if (!metrics) throw new Error('the admin listener is enabled but the service has no metrics');
      // The admin app, the dashboard and helmet load only for a service that has the admin listener.
      const { buildAdminApp } = await import('./admin-app.js');
      this.admin = this.track(
        await buildAdminApp({
          logger: log,
          metrics,
          token: admin.token,
          dashboard: this.options.dashboard,
          connectionLimits,
        }),
      );
      await listenOn(this.admin, { port: 'admin.port', address: 'admin.address' }, admin.address, admin.port, log);
    }
    const { smtpReports } = this.options;
    if (smtpReports) {
      const { settings } = smtpReports;
      // smtp-server and the MIME parser load only for a service that receives reports by mail.
      const { SmtpReceiver } = await import('../reports/smtp-receiver.js');
      this.smtp = await SmtpReceiver.create({
        intake: smtpReports.intake,
        domains: smtpReports.domains,
        extraRecipients: () => settings.recipients,
        // The policy host's certificate; a TLS-ALPN-01 challenge certificate is for the CA's HTTPS validation only.
        certificateFor: (host) => certificates.certificateFor(host),
        log,
        admitLine: smtpReports.admitLine,
        limits: { maxMessageBytes: settings.max_message_bytes },
      });
      await bindListener(
        this.smtp.server,
        { port: 'reports.smtp.port', address: 'reports.smtp.address' },
        settings.address,
        settings.port,
        log,
      );
    }
  }

  /** The `service_started` line: the addresses, and the _mta-sts records to publish (up to `listUpTo` domains). */
  announce(policies: PolicySet, listUpTo: number): void {
    const domains = [...policies.policies];
    this.options.log.info(
      {
        event: 'service_started',
        https: this.httpsAddress,
        http: this.httpAddress,
        admin: this.adminAddress ?? null,
        smtp: this.smtpAddress ?? null,
        domains: domains.length,
        ...(domains.length <= listUpTo && {
          publish: domains.map((served) => formatZoneLine(stsTxtRecord(served.domain, served.id))),
        }),
      },
      `serving ${domains.length} MTA-STS polic${domains.length === 1 ? 'y' : 'ies'}`,
    );
  }

  private track(app: FastifyInstance): FastifyInstance {
    this.apps.push(app);
    return app;
  }

  /**
   * SNI selection: a pending TLS-ALPN-01 validation for the host takes the handshake (the CA
   * connects only for seconds); otherwise the host's certificate; a name with neither gets the
   * neutral certificate (src/server/tls-options.ts). The SNI callback cannot see the client's
   * ALPN list, so ordinary clients of that host get the challenge certificate during those seconds.
   */
  private selectCertificate(servername: string): ServedCertificate | undefined {
    const { certificates } = this.options;
    return certificates.challengeCertificate(servername) ?? certificates.certificateFor(servername);
  }

  /** Ready (GET /ready on the admin listener) once every served host has its certificate. */
  readiness(): Readiness {
    const { policies, certificates } = this.options;
    const hostsWithoutCertificate = policies().hosts.filter((host) => !certificates.certificateFor(host)).length;
    return { ready: hostsWithoutCertificate === 0, hostsWithoutCertificate };
  }

  get httpsAddress(): AddressInfo {
    return this.https!.server.address() as AddressInfo;
  }

  get httpAddress(): AddressInfo {
    return this.http!.server.address() as AddressInfo;
  }

  /** The admin (metrics) listener, when enabled. */
  get adminAddress(): AddressInfo | undefined {
    return this.admin?.server.address() as AddressInfo | undefined;
  }

  /** The receiver of TLS reports by mail, when enabled. */
  get smtpAddress(): AddressInfo | undefined {
    return this.smtp?.server.address() as AddressInfo | undefined;
  }

  /**
   * Stops accepting connections and lets in-flight requests finish, and messages being received
   * (SMTP sessions between messages get 421); safe after a start that failed part way.
   */
  async stop(): Promise<void> {
    // Connections without a request in progress would hold the stop until their idle timeout;
    // close each one as soon as it has none, so in-flight requests finish and nothing else waits.
    const closeIdle = setInterval(() => {
      for (const app of this.apps) closeConnectionsWithoutRequest(app.server);
    }, 100);
    try {
      await Promise.all([this.smtp?.stop(), ...this.apps.map((app) => Promise.all([app.close(), closeServer(app.server)]))]);
    } finally {
      clearInterval(closeIdle);
    }
  }
}

/** Which config fields chose a listener's port and address, for a message when it cannot listen. */
interface ListenerSettings {
  port: 'listen.https' | 'listen.http' | 'admin.port' | 'reports.smtp.port';
  address: 'listen.address' | 'admin.address' | 'reports.smtp.address';
}

/**
 * Binds the app's server. Not with app.listen(): Fastify logs a "listening at" line per listener,
 * so a start that then fails on another port would have announced a listener it closes again; the
 * addresses are announced once, in service_started. Fastify leaves a server from its
 * serverFactory that it did not start to its owner: stop() closes it.
 */
async function listenOn(
  app: FastifyInstance,
  settings: ListenerSettings,
  host: string,
  port: number,
  log: Logger,
): Promise<void> {
  await app.ready();
  await bindListener(app.server, settings, host, port, log);
}

/** Binds a server; a failure names the setting that chose the port or address. */
async function bindListener(server: Server, settings: ListenerSettings, host: string, port: number, log: Logger): Promise<void> {
  try {
    await bind(server, host, port);
  } catch (error) {
    // "::" needs IPv6 in the kernel; some containers run without it. Serve IPv4 rather than nothing.
    if (host !== '::' || (error as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT')
      throw listenFailure(error, settings, host, port);
    log.warn({ event: 'ipv6_unavailable' }, 'IPv6 is not available here; listening on IPv4 only');
    await bind(server, '0.0.0.0', port).catch((fallbackError: unknown) => {
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
  const fields = (setting: string) => ({ setting, address, port, code });
  switch (code) {
    case 'EADDRINUSE':
      return new StartError(
        `${settings.port}: cannot listen on ${where}: another program uses port ${port}`,
        fields(settings.port),
      );
    case 'EACCES':
    case 'EPERM': {
      const privileged =
        port < 1024
          ? '; ports below 1024 need root, CAP_NET_BIND_SERVICE or a lower net.ipv4.ip_unprivileged_port_start (Docker sets 0), or choose a port above 1023'
          : '';
      return new StartError(`${settings.port}: not permitted to listen on ${where}${privileged}`, fields(settings.port));
    }
    case 'EADDRNOTAVAIL':
      return new StartError(`${settings.address}: ${address} is not an address of this machine`, fields(settings.address));
    default:
      return error;
  }
}
