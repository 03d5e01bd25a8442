import type { Logger } from 'pino';
import { formatZoneLine, stsTxtRecord } from '../dns/records.js';
import type { DomainPolicy } from '../policy/policy.js';
import type { PolicySet, ServedPolicy } from '../policy/policy-set.js';
import type { LifecycleView } from './lifecycle-view.js';
import {
  lastCachedUntil,
  recordServed,
  retirementPolicy,
  retirementsAt,
  SERVED_RECORD_INTERVAL_MS,
  type DomainHistory,
  type Retirement,
} from '../policy/retirement.js';
import type { PolicyHistoryImport, PolicyHistoryStore } from '../storage/policy-history-store.js';

/**
 * Histories handed to the store at a time. The state database commits those that arrive together
 * in one transaction with one fsync (src/storage/sqlite-policy-history.ts): a hosting provider's
 * first start hands over 100 000, which 16 at a time were 6 250 commits.
 */
export const SAVE_CONCURRENCY = 256;

export interface PolicyLifecycleOptions {
  store: PolicyHistoryStore;
  /** What the store's open imported from an older version's history files, to log. */
  imported?: PolicyHistoryImport | undefined;
  log: Logger;
  /** `retire_removed_domains`: serve removed domains as `mode: none` until senders' caches expire. */
  retireRemoved: boolean;
  /** The clock; tests move it forward. */
  now?: () => number;
  /** How often the served policies are recorded and retirements looked at; SERVED_RECORD_INTERVAL_MS unless a test shortens it. */
  intervalMs?: number;
}

/** What the lifecycle needs of the reload controller: the set being served, and a rebuild when a retirement ends. */
export interface ServedSet {
  policies(): PolicySet;
  refresh(): void;
}

/**
 * Keeps each domain's policy history (src/policy/retirement.ts) and retires removed domains:
 * RFC 8461 §8.3 asks a domain leaving MTA-STS to serve `mode: none` under a new id until every
 * cached policy has expired. The config says which domains to serve; this adds the retiring ones,
 * records what is served, logs `domain_retired` and `domain_dropped`, and asks for a rebuild when
 * a retirement ends.
 */
export class PolicyLifecycle {
  private readonly now: () => number;
  private retiring = new Map<string, Retirement>();
  /** The retirements last served (and so announced), to log each start and end once. */
  private announced = new Map<string, Retirement>();
  private servedSet: PolicySet | undefined;
  /** Each domain's history as served so far, by name. */
  private readonly histories = new Map<string, DomainHistory>();
  /** When each domain's history was last written. */
  private readonly savedAt = new Map<string, number>();
  /** The newest history of each domain not yet handed to the store: a newer one replaces it unwritten. */
  private readonly unsaved = new Map<string, DomainHistory>();
  /** Domains whose history the store is writing: never two writes of one domain at once, so the newest lands last. */
  private readonly writing = new Set<string>();
  private saving: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private hooks: ServedSet | undefined;
  private closed = false;

  private constructor(private readonly options: PolicyLifecycleOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Reads every stored history; damaged entries are logged and left out, never fatal. */
  static async open(options: PolicyLifecycleOptions): Promise<PolicyLifecycle> {
    const { imported, log } = options;
    if (imported) {
      for (const problem of imported.problems) {
        log.error(
          { event: 'policy_history_error', error: `${problem}; not imported, the file is left where it is` },
          'a policy history file of an older version cannot be read',
        );
      }
      log.info(
        { event: 'policy_history_imported', histories: imported.histories, failed: imported.problems.length },
        `imported ${imported.histories} policy histories from the older version's files in state_dir/policy-history into the state database; the files are no longer read`,
      );
    }
    const { histories, problems } = await options.store.loadAll();
    for (const problem of problems) {
      options.log.error({ event: 'policy_history_error', error: problem }, 'a stored policy history cannot be read');
    }
    const lifecycle = new PolicyLifecycle(options);
    for (const history of histories) {
      lifecycle.histories.set(history.domain, history);
      // A stored history was written when its last record was last served: a restart within the
      // interval rewrites none of them (100 000 domains were 100 000 writes at every start).
      const lastServed = history.policies.at(-1)?.lastServed;
      if (lastServed !== undefined) lifecycle.savedAt.set(history.domain, lastServed);
    }
    return lifecycle;
  }

  /** The configured domains and, unless retire_removed_domains is off, the removed ones still retiring. */
  domainsToServe(configured: readonly DomainPolicy[]): DomainPolicy[] {
    const now = this.now();
    const names = new Set(configured.map((domain) => domain.name));
    // What is served now was served until this moment: a domain removed now has served until now.
    for (const served of this.servedSet?.policies ?? []) if (!names.has(served.domain)) this.recordOne(served, now);
    const retiring = this.options.retireRemoved ? retirementsAt(names, this.histories.values(), now) : [];
    this.retiring = new Map(retiring.map((retirement) => [retirement.domain, retirement]));
    return [...configured, ...retiring.map((retirement) => retirementPolicy(retirement.domain))];
  }

  /** Starts recording what is served and ending retirements on time. */
  start(hooks: ServedSet): void {
    this.hooks = hooks;
    this.served(hooks.policies());
  }

  /** A new policy set is served (at start, after a reload or a rebuild). */
  served(policies: PolicySet): void {
    const now = this.now();
    const before = this.servedSet;
    this.servedSet = policies;
    // A policy served before and now (a reload keeps the object) is recorded by the next tick, as
    // between reloads; recording all 100 000 at every reload was a tenth of one. A replaced one
    // was served until now, and its successor from now.
    for (const served of policies.changedSince(before)) {
      const earlier = before?.forHost(served.host);
      if (earlier === served) continue;
      if (earlier) this.recordOne(earlier, now);
      this.recordOne(served, now);
    }
    for (const [domain, retirement] of this.retiring) {
      if (this.announced.get(domain)?.until === retirement.until) continue;
      const policy = policies.forHost(`mta-sts.${domain}`)!;
      const publish = formatZoneLine(stsTxtRecord(domain, policy.id));
      this.options.log.warn(
        { event: 'domain_retired', domain, policy_id: policy.id, until: new Date(retirement.until).toISOString(), publish },
        `${domain} was removed from the config: served as mode none until ${new Date(retirement.until).toISOString()} (RFC 8461 §8.3); publish ${publish}, then delete its records and policy host after that date`,
      );
    }
    for (const domain of this.announced.keys()) {
      if (this.retiring.has(domain)) continue;
      if (policies.forHost(`mta-sts.${domain}`)) continue;
      this.options.log.info(
        { event: 'domain_dropped', domain },
        `${domain}: its retirement has ended and it is no longer served; delete its _mta-sts TXT record and policy host`,
      );
    }
    this.announced = new Map(this.retiring);
    this.schedule(now);
  }

  /** The history as this process holds it, in the form the commands read from the store (the dashboard shows it). */
  view(): LifecycleView {
    return {
      retirements: [...this.retiring.values()],
      cachedUntil: (domain) => {
        const history = this.histories.get(domain);
        return history && lastCachedUntil(history);
      },
      problems: [],
    };
  }

  /** The policies a domain has served, oldest first; undefined for a domain never served. */
  history(domain: string): DomainHistory | undefined {
    return this.histories.get(domain);
  }

  /** Resolves when the history writes begun so far are done. */
  async settled(): Promise<void> {
    await this.saving;
  }

  /**
   * Records the served set as served until now, and stops. Like a tick, it writes only the
   * histories that are new or due: the stored last-served times may be up to an interval behind,
   * which every retirement's end allows for (as after a crash). Writing them all made a stop with
   * 100 000 domains take minutes.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.servedSet) this.record(this.servedSet, this.now());
    await this.saving;
    await this.options.store.close();
  }

  private record(policies: PolicySet, now: number): void {
    for (const served of policies.policies) this.recordOne(served, now);
  }

  private recordOne(served: ServedPolicy, now: number): void {
    const before = this.histories.get(served.domain) ?? { domain: served.domain, policies: [] };
    const last = before.policies.at(-1);
    const newRecord = last?.id !== served.id;
    // The same id is the same policy: its record holds the facts, and the body is not copied
    // out of the served Buffer again for each of 100 000 domains.
    const after = recordServed(before, newRecord ? factsOf(served) : last!, now);
    this.histories.set(served.domain, after);
    // A policy still being served is written at most once per interval (the retirement's end allows for that).
    const due = now - (this.savedAt.get(served.domain) ?? -Infinity) >= SERVED_RECORD_INTERVAL_MS;
    if (newRecord || due) this.save(after, now);
  }

  private save(history: DomainHistory, now: number): void {
    this.savedAt.set(history.domain, now);
    this.unsaved.set(history.domain, history);
    this.saving ??= this.writeUnsaved();
  }

  /** Writes the unsaved histories, SAVE_CONCURRENCY at a time, until none is left. */
  private async writeUnsaved(): Promise<void> {
    // Begun by the first save of a pass over the served set: the writers start once the pass has
    // queued every history, or all but the first of them would find nothing to write and end.
    await Promise.resolve();
    const writer = async () => {
      for (let history = this.nextUnsaved(); history; history = this.nextUnsaved()) {
        const { domain } = history;
        this.writing.add(domain);
        await this.options.store.save(history).catch((error: Error) => {
          this.options.log.error(
            { event: 'policy_history_error', domain, error: error.message },
            'could not store the policy history; a retirement may end early after a restart',
          );
        });
        this.writing.delete(domain);
      }
    };
    // A history saved after the writers found none left but before they all returned still gets written.
    while (this.unsaved.size > 0) await Promise.all(Array.from({ length: SAVE_CONCURRENCY }, writer));
    this.saving = undefined;
  }

  private nextUnsaved(): DomainHistory | undefined {
    for (const [domain, history] of this.unsaved) {
      if (this.writing.has(domain)) continue;
      this.unsaved.delete(domain);
      return history;
    }
    return undefined;
  }

  private schedule(now: number): void {
    clearTimeout(this.timer);
    if (this.closed || !this.hooks) return;
    const interval = this.options.intervalMs ?? SERVED_RECORD_INTERVAL_MS;
    // An ended retirement waits for the rebuild it asked for, not for another timer.
    const nextEnd = Math.min(...[...this.retiring.values()].map((retirement) => retirement.until).filter((until) => until > now));
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.min(interval, nextEnd - now)));
    this.timer.unref();
  }

  private tick(): void {
    const now = this.now();
    if ([...this.retiring.values()].some((retirement) => retirement.until <= now)) this.hooks!.refresh();
    this.record(this.hooks!.policies(), now);
    this.schedule(now);
  }
}

function factsOf(served: ServedPolicy) {
  const { mode, maxAge } = served.policy;
  return { id: served.id, mode, maxAge, body: served.body };
}
