import type { Config } from '../config/schema.js';
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
    const { histories, problems } = await openBackends(config).policyHistory.loadAll();
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
