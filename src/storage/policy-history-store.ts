import { POLICY_MODES } from '../policy/policy.js';
import type { DomainHistory, ServedPolicyRecord } from '../policy/retirement.js';
import { printable } from '../text/printable.js';
import { mapWithLimit } from '../files/concurrency.js';
import type { Storage } from './storage.js';

/**
 * Where each domain's served policies are kept (src/policy/retirement.ts), so that a domain
 * removed from the config is retired, not dropped, across restarts (RFC 8461 §8.3). The embedded
 * store is the state database (src/storage/sqlite-policy-history.ts); another backend implements
 * the same calls and passes test/support/policy-history-conformance.ts.
 */
export interface PolicyHistoryStore {
  /**
   * Every stored domain's history. A value that cannot be read is left out and named in
   * `problems` (a person's sentence each), never thrown: a damaged entry must not stop the service.
   */
  loadAll(): Promise<{ histories: DomainHistory[]; problems: string[] }>;
  /** Replaces the domain's history atomically. */
  save(history: DomainHistory): Promise<void>;
  /** Ends the store's use: writes what it was handed, then lets go of the backend. */
  close(): Promise<void>;
}

/** What the service's opener hands over: the store, and what it imported from an older version's files. */
export interface OpenedPolicyHistory {
  readonly store: PolicyHistoryStore;
  /** Undefined unless this open found the store empty and history files to import. */
  readonly imported: PolicyHistoryImport | undefined;
}

export interface PolicyHistoryImport {
  /** Histories imported, in one transaction. */
  readonly histories: number;
  /** Files that could not be read: each `<key>: <why>`; they are left where they are. */
  readonly problems: readonly string[];
}

/**
 * What versions before the state database kept: one JSON file per domain, `policy-history/<domain>.json`.
 * Read when the service first opens the database, to import them, and by commands until then.
 */
export const HISTORY_FILES = 'policy-history';
/**
 * Files read at a time: a hosting provider's 100 000 domains are 100 000 small files, which read
 * one after the other kept a start waiting on the file system for over 20 seconds.
 */
const LOAD_CONCURRENCY = 64;

/**
 * The history files an older version wrote (HISTORY_FILES), checked as the database's rows are.
 * A file that cannot be used is named in `problems` as `<key>: <why>`, for the caller to say what
 * becomes of it.
 */
export async function readHistoryFiles(storage: Storage): Promise<{ histories: DomainHistory[]; problems: string[] }> {
  const histories: DomainHistory[] = [];
  const problems: string[] = [];
  const keys = await storage.list(HISTORY_FILES);
  // Parsed as each arrives, so that the raw values are not all held at once.
  const read = async (key: string) => {
    const value = await storage.load(key);
    return value && parseHistoryFile(value.toString('utf8'));
  };
  for (const [index, parsed] of (await mapWithLimit(keys, LOAD_CONCURRENCY, read)).entries()) {
    if (parsed === undefined) continue;
    const key = keys[index]!;
    if (typeof parsed !== 'string' && `${HISTORY_FILES}/${parsed.domain}.json` === key) histories.push(parsed);
    else problems.push(`${key}: ${typeof parsed === 'string' ? parsed : 'holds another domain'}`);
  }
  return { histories, problems };
}

/**
 * The files read in the database's place, by commands before the service's first start with it:
 * every history, and the problems worded as PolicyHistoryStore.loadAll's.
 */
export async function loadHistoryFiles(storage: Storage): Promise<{ histories: DomainHistory[]; problems: string[] }> {
  const { histories, problems } = await readHistoryFiles(storage);
  return { histories, problems: problems.map((problem) => `${problem}; that domain's history is ignored`) };
}

function parseHistoryFile(text: string): DomainHistory | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return `not JSON (${printable((error as Error).message, 100)})`;
  }
  const { domain, policies } = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (typeof domain !== 'string' || domain === '') return `domain: ${shown(domain)} is not a domain name`;
  if (!Array.isArray(policies)) return `policies: ${shown(policies)} is not a list`;
  const records: ServedPolicyRecord[] = [];
  for (const [index, stored] of policies.entries()) {
    const record = recordFromFile(typeof stored === 'object' && stored !== null ? stored : {});
    if (typeof record === 'string') return `policies.${index}.${record}`;
    records.push(record);
  }
  return { domain, policies: records };
}

/** The files keep times as ISO text; the database keeps them as the numbers the service computes with. */
function recordFromFile(stored: Record<string, unknown>): ServedPolicyRecord | string {
  const { id, mode, max_age: maxAge, body, first_served: firstServed, last_served: lastServed } = stored;
  const first = utcMoment(firstServed);
  if (first === undefined) return `first_served: ${shown(firstServed)} is not a UTC time such as 2026-12-01T10:00:00.000Z`;
  const last = utcMoment(lastServed);
  if (last === undefined) return `last_served: ${shown(lastServed)} is not a UTC time such as 2026-12-01T10:00:00.000Z`;
  return recordFrom(id, mode, maxAge, body, first, last);
}

const POLICY_ID = /^[A-Za-z0-9]{1,32}$/;
/** An instant as toISOString() writes it (the fraction optional, as in files written by hand). */
const UTC_MOMENT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

function utcMoment(value: unknown): number | undefined {
  if (typeof value !== 'string' || !UTC_MOMENT.test(value)) return undefined;
  const epochMs = Date.parse(value);
  return Number.isNaN(epochMs) ? undefined : epochMs;
}

/** A served policy's stored fields, in the order of the database's columns. */
export type StoredRecordFields = [
  id: unknown,
  mode: unknown,
  maxAge: unknown,
  body: unknown,
  firstServed: unknown,
  lastServed: unknown,
];

/**
 * One served policy from its stored fields, in the order of the database's columns (the files'
 * times converted first), or what is wrong with it as `<field>: <why>`. Checked by hand, not with
 * a schema library, and from separate values, not an object: at 100 000 domains the per-value
 * schema checks were a large part of a start, and the database hands rows over fastest as arrays.
 */
export function recordFrom(
  ...[id, mode, maxAge, body, firstServed, lastServed]: StoredRecordFields
): ServedPolicyRecord | string {
  if (typeof id !== 'string' || !POLICY_ID.test(id)) return `id: ${shown(id)} is not a policy id (1 to 32 letters and digits)`;
  if (!POLICY_MODES.includes(mode as never)) return `mode: ${shown(mode)} is not one of ${POLICY_MODES.join(', ')}`;
  if (!Number.isSafeInteger(maxAge) || (maxAge as number) < 0) return `max_age: ${shown(maxAge)} is not a number of seconds`;
  if (typeof body !== 'string') return `body: ${shown(body)} is not text`;
  if (!Number.isSafeInteger(firstServed)) return `first_served: ${shown(firstServed)} is not a time in milliseconds since 1970`;
  if (!Number.isSafeInteger(lastServed)) return `last_served: ${shown(lastServed)} is not a time in milliseconds since 1970`;
  return {
    id,
    mode: mode as ServedPolicyRecord['mode'],
    maxAge: maxAge as number,
    body,
    firstServed: firstServed as number,
    lastServed: lastServed as number,
  };
}

/** A stored value in a message: as JSON, cut and made safe to print. */
function shown(value: unknown): string {
  return value === undefined ? 'missing' : printable(JSON.stringify(value) ?? String(value), 60);
}
