import type { Logger } from 'pino';
import type { PolicySet } from '../policy/policy-set.js';
import type { Listeners } from '../server/listeners.js';
import { stateDirFailure } from '../storage/state-dir.js';
import { buildParts, type Parts } from './parts.js';
import type { ServiceOptions } from './service-options.js';

/** Policy domains and certificates listed one by one in the start-up log; above this only counts (`dns` and `certs` list them). */
const LIST_UP_TO = 50;

/**
 * The composition root: the parts built from the config (src/service/parts.ts), started in order
 * and stopped in reverse. Each part owns its lifecycle.
 */
export class Service {
  private constructor(
    readonly log: Logger,
    private readonly parts: Parts,
  ) {}

  /** Loads the config (throws ConfigError with located problems), prepares certificates and starts listening. */
  static async start(options: ServiceOptions): Promise<Service> {
    const { log, config, parts } = await buildParts(options);
    const { reloader, certificates, listeners, lifecycle, selfCheck, providers } = parts;
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
