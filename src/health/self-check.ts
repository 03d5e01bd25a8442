import type { Logger } from 'pino';
import type { PolicySet, ServedPolicy } from '../policy/policy-set.js';
import type { CheckResult, CheckStatus } from './check-result.js';
import { mapWithLimit } from '../files/concurrency.js';
import type { DomainCheck } from './domain-check.js';
import { reloadRisks, type CheckedDomain } from './reload-risks.js';

/** Domains checked at once by one round. */
const DOMAIN_CONCURRENCY = 4;

export interface SelfCheckOptions {
  log: Logger;
  /** One domain's checks, as `mta-sts-server check` runs them. */
  check: (served: ServedPolicy) => Promise<DomainCheck>;
  intervalMs: number;
  /** The first round waits this long after start: never on the start-up path. */
  firstCheckDelayMs: number;
  /** Each wait is the interval ± this fraction, so that replicas and restarts spread out. */
  jitter: number;
  random?: () => number;
  now?: () => number;
}

/**
 * The periodic self-check of `serve`: every domain checked from the outside (DNS, policy host,
 * MX hosts) on a jittered interval, and a domain again right after a reload changes its policy.
 * Only a change of a check's status is logged (`health_check`), so a lasting problem is one line.
 */
export class SelfCheck {
  private readonly last = new Map<string, CheckedDomain>();
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private policies: () => PolicySet = () => {
    throw new Error('SelfCheck used before start');
  };
  /** The set the last reload handed in; what the next one is compared with. */
  private seen: PolicySet | undefined;
  private stopped = false;

  constructor(private readonly options: SelfCheckOptions) {}

  start(policies: () => PolicySet): void {
    this.policies = policies;
    this.seen = policies();
    this.schedule(this.options.firstCheckDelayMs);
  }

  /** After a reload: domains whose policy changed are checked now; removed ones are forgotten. */
  served(after: PolicySet): void {
    const before = this.seen;
    this.seen = after;
    if (before === undefined) return;
    const changed = [...after.policies].filter((served) => before.forHost(served.host)?.id !== served.id);
    for (const domain of this.last.keys()) {
      if (![...after.policies].some((served) => served.domain === domain)) this.last.delete(domain);
    }
    if (changed.length > 0) this.enqueue(changed);
  }

  /** What a reload from `before` to `after` makes worse, by the last checks (see reloadRisks). */
  risks(before: PolicySet, after: PolicySet): string[] {
    return reloadRisks(before, after, (domain) => this.last.get(domain));
  }

  /** The last check of every domain checked so far. */
  results(): CheckedDomain[] {
    return [...this.last.values()];
  }

  /** Resolves when the rounds queued so far are done. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** No more rounds; a round under way is not waited for (its steps end by their timeouts) and its results are dropped. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.enqueue([...this.policies().policies]);
      void this.queue.then(() => this.schedule(this.jittered()));
    }, delayMs);
    this.timer.unref();
  }

  private jittered(): number {
    const { intervalMs, jitter, random = Math.random } = this.options;
    return Math.round(intervalMs * (1 + jitter * (2 * random() - 1)));
  }

  private enqueue(domains: readonly ServedPolicy[]): void {
    this.queue = this.queue.then(() => this.round(domains));
  }

  private async round(domains: readonly ServedPolicy[]): Promise<void> {
    if (this.stopped) return;
    await mapWithLimit(domains, DOMAIN_CONCURRENCY, async (served) => {
      const { log, now = Date.now } = this.options;
      try {
        const report = await this.options.check(served);
        // A domain removed while it was being checked is not brought back.
        if (this.stopped || !this.policies().forHost(served.host)) return;
        this.logChanges(this.last.get(served.domain)?.report, report);
        this.last.set(served.domain, { checkedAt: new Date(now()), report });
      } catch (error) {
        if (this.stopped) return;
        log.error(
          { event: 'health_check_error', domain: served.domain, error: (error as Error).message },
          `could not check ${served.domain}`,
        );
      }
    });
  }

  private logChanges(previous: DomainCheck | undefined, report: DomainCheck): void {
    const before = new Map<string, CheckStatus>(previous?.checks.map((check) => [check.id, check.status]));
    for (const check of report.checks) {
      const from = before.get(check.id);
      // The first result of a check is news only when something is wrong.
      if (from === check.status || (from === undefined && check.status === 'ok')) continue;
      this.logChange(report.domain, check, from);
    }
  }

  private logChange(domain: string, check: CheckResult, from: CheckStatus | undefined): void {
    const line = { event: 'health_check', domain, check: check.id, from: from ?? null, to: check.status, message: check.message };
    const text = `${domain} ${check.id}: ${from ?? 'unchecked'} -> ${check.status}: ${check.message}`;
    if (check.status === 'ok') this.options.log.info(line, text);
    else this.options.log.warn(line, text);
  }
}
