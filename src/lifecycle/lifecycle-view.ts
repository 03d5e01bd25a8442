import type { Config } from '../config/schema.js';
import type { ServedPolicy } from '../policy/policy-set.js';
import { lastCachedUntil, retirementsAt, type Retirement } from '../policy/retirement.js';
import { openBackends } from '../storage/backends.js';

/** What the stored policy history says about the end of each domain's MTA-STS, for the commands. */
export interface LifecycleView {
  /** Removed domains the service serves as `mode: none` now, by name. */
  readonly retirements: readonly Retirement[];
  /**
   * When the last `testing` or `enforce` policy this service served for the domain leaves senders'
   * caches (epoch ms); undefined when it never served one.
   */
  cachedUntil(domain: string): number | undefined;
  /** Sentences about history entries that could not be read, or the history as a whole. */
  readonly problems: readonly string[];
}

/** Reads the policy history in state_dir as the service left it; a history that cannot be read is a problem, not a failure. */
export async function readLifecycle(config: Config, now: number): Promise<LifecycleView> {
  const configured = new Set(config.domains.map((domain) => domain.name));
  try {
    const { histories, problems } = await openBackends(config).readPolicyHistory();
    const byDomain = new Map(histories.map((history) => [history.domain, history]));
    return {
      retirements: config.retireRemovedDomains ? retirementsAt(configured, histories, now) : [],
      cachedUntil: (domain) => {
        const history = byDomain.get(domain);
        return history && lastCachedUntil(history);
      },
      problems,
    };
  } catch (error) {
    return {
      retirements: [],
      cachedUntil: () => undefined,
      problems: [`the policy history in ${config.stateDir} cannot be read (${(error as Error).message})`],
    };
  }
}

/** "2026-12-08 14:00 UTC": a date a person can compare with a calendar. */
export function formatMoment(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Where a domain stands in its MTA-STS life, as `dns` and `check` show it. */
export interface DomainEnd {
  /** Removed from the config and served as `mode: none` until `deleteAfter` (RFC 8461 §8.3). */
  retired: boolean;
  /** After this moment no sender holds a testing or enforce policy of the domain: its records and host can go. */
  deleteAfter: number | undefined;
}

export function domainEnd(policy: ServedPolicy, retired: ReadonlySet<string>, lifecycle: LifecycleView): DomainEnd {
  const isRetired = retired.has(policy.domain);
  // A domain still in testing or enforce has no end yet: the policy served now is what senders cache.
  const ending = isRetired || policy.policy.mode === 'none';
  return { retired: isRetired, deleteAfter: ending ? lifecycle.cachedUntil(policy.domain) : undefined };
}

/** What `dns` and `check` say about a domain's end: when its records and host can go, or nothing while it is in testing or enforce. */
export function endAdvice(policy: ServedPolicy, end: DomainEnd, now: number): string | undefined {
  if (end.retired) {
    return `served until ${formatMoment(end.deleteAfter!)}, then dropped; delete these records and the host mta-sts.${policy.domain} after that`;
  }
  if (policy.policy.mode !== 'none') return undefined;
  if (end.deleteAfter === undefined) {
    return 'safe to delete: this service never served it in testing or enforce (unless another host did)';
  }
  return end.deleteAfter > now
    ? `safe to delete after ${formatMoment(end.deleteAfter)}, when the last testing or enforce policy leaves senders' caches`
    : `safe to delete: the last testing or enforce policy left senders' caches on ${formatMoment(end.deleteAfter)}`;
}
