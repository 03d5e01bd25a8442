import type { Logger } from 'pino';

/** How many lines requests that are not policy fetches may write; the README's "Logging limits". */
export interface LogLimits {
  /** Lines per source address and window. */
  linesPerAddress: number;
  /** Windows are aligned to the clock: with a minute, each clock minute is one. */
  windowMs: number;
  /** Addresses counted one by one per window; beyond them, the others share one budget of `linesPerAddress`. */
  maxAddresses: number;
}

const DEFAULT_LOG_LIMITS: Readonly<LogLimits> = { linesPerAddress: 20, windowMs: 60_000, maxAddresses: 10_000 };

interface Budget {
  lines: number;
  suppressed: number;
}

/**
 * A budget of log lines per source address and clock window, for the requests a client can
 * repeat at will (404s, 405s, 421s, other hosts): past the budget their lines are counted, not
 * written, and one `log_suppressed` line per address says how many were left out, when the
 * window ends (or at the next line after it, or at stop). Memory stays bounded however many
 * addresses an attacker rotates through: past `maxAddresses` in a window, all other addresses
 * share one budget and one `log_suppressed` line (`ip: null`).
 */
export class LogLimit {
  private readonly limits: LogLimits;
  private readonly budgets = new Map<string, Budget>();
  /** The budget addresses beyond the table share. */
  private others: Budget = { lines: 0, suppressed: 0 };
  /** The current window's number (its start / windowMs). */
  private window = -1;
  private windowEnd: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    limits: Partial<LogLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LOG_LIMITS, ...limits };
  }

  /** Whether a line for a request from `ip` may be written now; if not, it is counted as suppressed. */
  admit(ip: string): boolean {
    const window = Math.floor(Date.now() / this.limits.windowMs);
    if (window !== this.window) {
      this.endWindow();
      this.window = window;
    }
    let budget = this.budgets.get(ip);
    if (budget === undefined) {
      if (this.budgets.size >= this.limits.maxAddresses) budget = this.others;
      else this.budgets.set(ip, (budget = { lines: 0, suppressed: 0 }));
    }
    if (budget.lines < this.limits.linesPerAddress) {
      budget.lines++;
      return true;
    }
    budget.suppressed++;
    // The count is written when the window ends even if no request comes after it.
    this.windowEnd ??= setTimeout(() => this.endWindow(), (window + 1) * this.limits.windowMs - Date.now()).unref();
    return false;
  }

  /** Writes the counts of the window in progress (at stop). */
  close(): void {
    this.endWindow();
  }

  private endWindow(): void {
    clearTimeout(this.windowEnd);
    this.windowEnd = undefined;
    const since = new Date(this.window * this.limits.windowMs).toISOString();
    const until = new Date(Math.min(Date.now(), (this.window + 1) * this.limits.windowMs)).toISOString();
    for (const [ip, budget] of this.budgets) if (budget.suppressed > 0) this.report(ip, budget.suppressed, since, until);
    if (this.others.suppressed > 0) this.report(null, this.others.suppressed, since, until);
    this.budgets.clear();
    this.others = { lines: 0, suppressed: 0 };
  }

  private report(ip: string | null, suppressed: number, since: string, until: string): void {
    const from = ip ?? `addresses beyond the first ${this.limits.maxAddresses}`;
    this.log.info(
      { event: 'log_suppressed', ip, suppressed, since, until },
      `${suppressed} lines for requests from ${from} that were not policy fetches left out ` +
        `(at most ${this.limits.linesPerAddress} per address in ${this.limits.windowMs / 1000} s)`,
    );
  }
}
