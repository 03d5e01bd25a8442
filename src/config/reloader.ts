import type { Logger } from 'pino';
import { formatZoneLine, stsTxtRecord } from '../dns/records.js';
import { watchFiles, type Watch } from '../files/watch.js';
import { diffPolicySets, isEmptyDiff } from '../policy/policy-diff.js';
import { PolicySet } from '../policy/policy-set.js';
import type { DomainPolicy } from '../policy/policy.js';
import { printable } from '../text/printable.js';
import type { ConfigEnvironment } from './environment.js';
import { loadConfigText, readConfigText, type ConfigReuse } from './load.js';
import type { Config } from './schema.js';

/** What a new config changes in the running parts; the composition root hands these in. */
export interface ReloadHandlers {
  /** A valid config that differs from the served one: swap policies, trust_proxy, log level, certificate hosts. */
  apply(config: Config, policies: PolicySet): void;
  /** Every reload's outcome (metrics). */
  reloaded?(result: 'applied' | 'rejected'): void;
  /** The domains to serve for the configured ones: the policy lifecycle adds those still retiring. */
  domainsToServe?(configured: readonly DomainPolicy[]): DomainPolicy[];
  /** What the change makes worse, as far as the last health checks tell (a sentence each). */
  risks?(before: PolicySet, after: PolicySet): string[];
}

export interface ConfigReloaderOptions {
  path: string;
  /** The environment the config is read with, at start and at every reload alike. */
  env: ConfigEnvironment;
  log: Logger;
  /** The config the service started with, the text it was read from, and what its load leaves for a reload's. */
  config: Config;
  text: string;
  reuse: ConfigReuse;
  handlers: ReloadHandlers;
}

/**
 * Keeps the served config in step with the file: watches it (and takes SIGHUP through reload()),
 * reads, validates, compares, and either applies the new config or keeps the last good one and
 * says why. Settings that need new listeners or stores wait for a restart, and the log says so.
 */
export class ConfigReloader {
  private config: Config;
  private policySet: PolicySet;
  private lastText: string;
  private lastReuse: ConfigReuse;
  private lastProblem: string | undefined;
  private watch: Watch | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly options: ConfigReloaderOptions) {
    this.config = options.config;
    this.lastText = options.text;
    this.lastReuse = options.reuse;
    this.policySet = this.policySetOf(options.config);
  }

  /** The policy set being served right now. */
  get policies(): PolicySet {
    return this.policySet;
  }

  /**
   * Rebuilds the served set from the config being served (a retirement has ended), in the reload
   * queue; resolves when done, never rejects.
   */
  refresh(): Promise<void> {
    return this.enqueue(async () => {
      const next = this.policySetOf(this.config);
      if (isEmptyDiff(diffPolicySets(this.policySet, next))) return;
      this.policySet = next;
      this.options.handlers.apply(this.config, next);
    });
  }

  /** The served policies for `config`; those of domains whose policy did not change are taken over from the set served now. */
  private policySetOf(config: Config): PolicySet {
    return new PolicySet(this.options.handlers.domainsToServe?.(config.domains) ?? config.domains, this.policySet);
  }

  /** Watches the config file; a change is read after a short pause, see watchFiles. */
  start(): void {
    this.watch ??= watchFiles([this.options.path], () => void this.reload());
  }

  stop(): void {
    this.watch?.close();
  }

  /**
   * Re-reads the config file (on change, SIGHUP, or a test). Reloads run one at a time, and one
   * that fails in any way is logged and leaves the queue working: the next edit is read as usual.
   * The promise resolves when this reload is done; it never rejects.
   */
  reload(): Promise<void> {
    return this.enqueue(() => this.reloadNow());
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.reloading.then(work);
    // The second catch: even a failure to log the failure must not stop the reloads after it.
    this.reloading = run.catch((error: unknown) => this.reportReloadFailure(error)).catch(() => undefined);
    return this.reloading;
  }

  /** Not a problem in the file (those are located errors) but in applying it: logged, and the last good config stays. */
  private reportReloadFailure(error: unknown): void {
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.reportProblem('config_error', [`${this.options.path}: the reload failed: ${printable(what, 160)}`]);
  }

  private async reloadNow(): Promise<void> {
    const { path, env } = this.options;
    const read = await readConfigText(path);
    if (!read.ok) return this.reportProblem('config_unreadable', [read.problem]);
    if (read.text === this.lastText) return this.recovered(false);
    const loaded = loadConfigText(read.text, path, env, this.lastReuse);
    if (!loaded.ok) return this.reportProblem('config_invalid', loaded.errors);
    this.apply(loaded.config, loaded.warnings, read.text, loaded.reuse);
  }

  private reportProblem(event: string, errors: string[]): void {
    this.options.handlers.reloaded?.('rejected');
    // Polling sees the same broken file every few seconds; say it once until it changes.
    const problem = errors.join('\n');
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    this.options.log.error({ event, errors }, 'config not applied; still serving the last good config');
  }

  /**
   * A good config after a bad one: said once, so that the log shows where a problem ended, and
   * forgotten, so that the same mistake made again is reported again. `applied` is false when the
   * file is back to the text already served (nothing to reload).
   */
  private recovered(applied: boolean): void {
    if (this.lastProblem === undefined) return;
    this.lastProblem = undefined;
    this.options.log.info(
      { event: 'config_recovered', applied },
      applied ? 'the config is valid again and applied' : 'the config is valid again; it is the config already served',
    );
  }

  private apply(next: Config, warnings: string[], text: string, reuse: ConfigReuse): void {
    const { log, handlers } = this.options;
    const nextPolicies = this.policySetOf(next);
    const diff = diffPolicySets(this.policySet, nextPolicies);
    const restartOnly = restartOnlyChanges(this.config, next);
    const risks = handlers.risks?.(this.policySet, nextPolicies) ?? [];
    this.config = { ...next, ...restartOnlySettings(this.config) };
    this.policySet = nextPolicies;
    this.lastText = text;
    this.lastReuse = reuse;
    handlers.apply(this.config, nextPolicies);
    this.recovered(true);
    handlers.reloaded?.('applied');
    for (const warning of warnings) log.warn({ event: 'config_warning', warning }, warning);
    if (restartOnly.length > 0) {
      log.warn(
        { event: 'config_restart_required', settings: restartOnly },
        `changes to ${restartOnly.join(', ')} take effect after a restart`,
      );
    }
    // Applied all the same: the file is valid, and the admin may know better than the last check.
    for (const risk of risks) log.warn({ event: 'config_risk', risk }, risk);
    const summary = isEmptyDiff(diff)
      ? 'config reloaded; no policy changed'
      : `config reloaded: ${diff.domains_added.length} added, ${diff.domains_removed.length} removed, ${diff.changed.length} changed; publish the new _mta-sts TXT records`;
    log.info(
      {
        event: 'config_reloaded',
        domains: nextPolicies.size,
        domains_added: diff.domains_added,
        domains_removed: diff.domains_removed,
        changed: diff.changed,
        publish: diff.publish.map(({ domain, policy_id }) => formatZoneLine(stsTxtRecord(domain, policy_id))),
        ...(risks.length > 0 && { risks }),
      },
      risks.length > 0 ? `${summary}; at risk: ${risks.join('; ')}` : summary,
    );
  }
}

/**
 * The settings that listeners, certificate sources, stores and the log's destination were built
 * from (a reload keeps the running ones), with their names in the config file, in the order the
 * log names them.
 */
const RESTART_ONLY_NAMES = {
  listen: 'listen',
  tls: 'tls',
  stateDir: 'state_dir',
  logBufferBytes: 'log.buffer_bytes',
  logFlushIntervalMs: 'log.flush_interval_ms',
  admin: 'admin',
  reverseDns: 'reverse_dns',
  providersFile: 'providers_file',
  providerRefresh: 'providers',
  statistics: 'statistics',
  reports: 'reports',
  retireRemovedDomains: 'retire_removed_domains',
  health: 'health',
} as const satisfies Partial<Record<keyof Config, string>>;

type RestartOnlySetting = keyof typeof RESTART_ONLY_NAMES;
const RESTART_ONLY_SETTINGS = Object.keys(RESTART_ONLY_NAMES) as RestartOnlySetting[];

function restartOnlySettings(config: Config): Pick<Config, RestartOnlySetting> {
  return Object.fromEntries(RESTART_ONLY_SETTINGS.map((key) => [key, config[key]])) as Pick<Config, RestartOnlySetting>;
}

function restartOnlyChanges(current: Config, next: Config): string[] {
  const running = restartOnlySettings(current);
  const wanted = restartOnlySettings(next);
  return RESTART_ONLY_SETTINGS.filter((key) => JSON.stringify(running[key]) !== JSON.stringify(wanted[key])).map(
    (key) => RESTART_ONLY_NAMES[key],
  );
}
