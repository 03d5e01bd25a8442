import { z } from 'zod';
import { POLICY_MODES } from '../policy/policy.js';
import type { DomainHistory } from '../policy/retirement.js';
import { printable } from '../text/printable.js';
import { mapWithLimit } from '../files/concurrency.js';
import type { Storage } from './storage.js';

/**
 * Where each domain's served policies are kept (src/policy/retirement.ts), so that a domain
 * removed from the config is retired, not dropped, across restarts. The embedded store keeps one
 * JSON value per domain in the shared Storage; another backend implements the same two calls and
 * passes test/support/policy-history-conformance.ts.
 */
export interface PolicyHistoryStore {
  /**
   * Every stored domain's history. A value that cannot be read is left out and named in
   * `problems` (a person's sentence each), never thrown: a damaged entry must not stop the service.
   */
  loadAll(): Promise<{ histories: DomainHistory[]; problems: string[] }>;
  /** Replaces the domain's history atomically. */
  save(history: DomainHistory): Promise<void>;
}

const PREFIX = 'policy-history';
/**
 * Histories read at a time: a hosting provider's 100 000 domains are 100 000 small values, which
 * read one after the other kept a start waiting on the file system for over 20 seconds.
 */
const LOAD_CONCURRENCY = 64;

const storedRecord = z.object({
  id: z.string().regex(/^[A-Za-z0-9]{1,32}$/),
  mode: z.enum(POLICY_MODES),
  max_age: z.number().int().min(0),
  body: z.string(),
  first_served: z.iso.datetime(),
  last_served: z.iso.datetime(),
});

const storedHistory = z.object({ domain: z.string().min(1), policies: z.array(storedRecord) });

/** PolicyHistoryStore on Storage: `policy-history/<domain>.json`. */
export class StoragePolicyHistory implements PolicyHistoryStore {
  constructor(private readonly storage: Storage) {}

  async loadAll(): Promise<{ histories: DomainHistory[]; problems: string[] }> {
    const histories: DomainHistory[] = [];
    const problems: string[] = [];
    const keys = await this.storage.list(PREFIX);
    // Parsed as each arrives, so that the raw values are not all held at once.
    const read = async (key: string) => {
      const value = await this.storage.load(key);
      return value && parseHistory(value.toString('utf8'));
    };
    for (const [index, parsed] of (await mapWithLimit(keys, LOAD_CONCURRENCY, read)).entries()) {
      if (parsed === undefined) continue;
      const key = keys[index]!;
      if (parsed.ok && `${PREFIX}/${parsed.history.domain}.json` === key) histories.push(parsed.history);
      else problems.push(`${key}: ${parsed.ok ? 'holds another domain' : parsed.problem}; that domain's history is ignored`);
    }
    return { histories, problems };
  }

  async save(history: DomainHistory): Promise<void> {
    const stored: z.input<typeof storedHistory> = {
      domain: history.domain,
      policies: history.policies.map((record) => ({
        id: record.id,
        mode: record.mode,
        max_age: record.maxAge,
        body: record.body,
        first_served: new Date(record.firstServed).toISOString(),
        last_served: new Date(record.lastServed).toISOString(),
      })),
    };
    await this.storage.store(`${PREFIX}/${history.domain}.json`, `${JSON.stringify(stored, null, 1)}\n`);
  }
}

function parseHistory(text: string): { ok: true; history: DomainHistory } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `not JSON (${printable((error as Error).message, 100)})` };
  }
  const parsed = storedHistory.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `${issue.path.join('.') || 'the value'}: ${printable(issue.message, 100)}` };
  }
  return {
    ok: true,
    history: {
      domain: parsed.data.domain,
      policies: parsed.data.policies.map((record) => ({
        id: record.id,
        mode: record.mode,
        maxAge: record.max_age,
        body: record.body,
        firstServed: Date.parse(record.first_served),
        lastServed: Date.parse(record.last_served),
      })),
    },
  };
}
