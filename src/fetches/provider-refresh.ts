import { z } from 'zod';
import type { Storage } from '../storage/storage.js';
import { parseCidr } from '../net/ip-ranges.js';
import type { RefreshedRanges, SpfSource } from './providers.js';
import { expandSpfRecords, type SpfDns, type SpfRange } from './spf-ranges.js';

/**
 * `providers refresh` and the service's daily refresh: each provider's SPF records expanded into
 * ranges, kept in Storage (so replicas share them) with the date and the record each range came
 * from. A provider whose expansion fails keeps its last good ranges.
 */

/** Where the refreshed ranges are kept (in the state directory, for FileStorage). */
export const REFRESHED_RANGES_KEY = 'providers/spf-ranges.json';

const refreshedProvider = z.strictObject({
  refreshed_at: z.iso.datetime(),
  records: z.array(z.string()),
  ranges: z.array(
    z.strictObject({
      range: z.string().refine((range) => {
        try {
          parseCidr(range);
          return true;
        } catch {
          return false;
        }
      }),
      record: z.string(),
    }),
  ),
  notes: z.array(z.string()),
});

const refreshFile = z.strictObject({ version: z.literal(1), providers: z.record(z.string(), refreshedProvider) });

export type RefreshFile = z.output<typeof refreshFile>;
export type RefreshedProvider = z.output<typeof refreshedProvider>;

/** What one provider's refresh did, for the command's output and the service's log line. */
export interface ProviderRefreshResult {
  id: string;
  records: readonly string[];
  /** false: DNS failed or a limit was hit; the previous ranges (if any) are kept. */
  ok: boolean;
  problem?: string;
  /** The ranges now in effect (the new ones, or the kept ones after a failure); undefined when there are none. */
  current?: RefreshedProvider;
  /** No earlier refresh of this provider: every range is new. */
  first: boolean;
  /** Against the previous refresh: ranges that came and went (both empty after a failure). */
  added: SpfRange[];
  removed: SpfRange[];
  notes: string[];
}

export interface RefreshOutcome {
  file: RefreshFile;
  results: ProviderRefreshResult[];
}

/** The last refresh's ranges; `problem` when the stored file cannot be used (it is then ignored, and the shipped ranges apply). */
export async function readRefreshFile(storage: Storage): Promise<{ file?: RefreshFile; problem?: string }> {
  let text: Buffer | undefined;
  try {
    text = await storage.load(REFRESHED_RANGES_KEY);
  } catch (error) {
    return { problem: `cannot read ${REFRESHED_RANGES_KEY}: ${(error as Error).message}` };
  }
  if (text === undefined) return {};
  let data: unknown;
  try {
    data = JSON.parse(text.toString('utf8'));
  } catch (error) {
    return { problem: `${REFRESHED_RANGES_KEY} is not JSON: ${(error as Error).message}` };
  }
  const parsed = refreshFile.safeParse(data);
  return parsed.success
    ? { file: parsed.data }
    : { problem: `${REFRESHED_RANGES_KEY} is not a refresh file: ${parsed.error.issues[0]!.message}` };
}

export async function storeRefreshFile(storage: Storage, file: RefreshFile): Promise<void> {
  await storage.store(REFRESHED_RANGES_KEY, `${JSON.stringify(file, null, 2)}\n`);
}

/** The ranges per provider id, as ProviderClassifier.fromFiles overlays them. */
export function rangesOf(file: RefreshFile | undefined): RefreshedRanges {
  return new Map(Object.entries(file?.providers ?? {}).map(([id, entry]) => [id, entry.ranges.map(({ range }) => range)]));
}

/**
 * Expands every source's records, one provider after the other (a few dozen DNS questions in all);
 * rejects with the signal's reason when it aborts.
 * The new file holds each source's new ranges, or its previous ones when the expansion failed;
 * providers that no longer name SPF records are dropped.
 */
export async function refreshProviders(
  sources: readonly SpfSource[],
  dns: SpfDns,
  previous: RefreshFile | undefined,
  now: Date,
  signal?: AbortSignal,
): Promise<RefreshOutcome> {
  const providers: Record<string, RefreshedProvider> = {};
  const results: ProviderRefreshResult[] = [];
  for (const { id, records } of sources) {
    // A stopping service does not wait for the remaining providers' DNS answers.
    signal?.throwIfAborted();
    const before = previous?.providers[id];
    const expansion = await expandSpfRecords(records, dns);
    if (!expansion.ok) {
      if (before) providers[id] = before;
      results.push({
        id,
        records,
        ok: false,
        problem: expansion.problem,
        ...(before && { current: before }),
        first: before === undefined,
        added: [],
        removed: [],
        notes: expansion.notes,
      });
      continue;
    }
    const current: RefreshedProvider = {
      refreshed_at: now.toISOString(),
      records: [...records],
      ranges: expansion.ranges,
      notes: expansion.notes,
    };
    providers[id] = current;
    results.push({
      id,
      records,
      ok: true,
      current,
      first: before === undefined,
      ...rangeDiff(before?.ranges ?? [], expansion.ranges),
      notes: expansion.notes,
    });
  }
  return { file: { version: 1, providers }, results };
}

function rangeDiff(before: readonly SpfRange[], after: readonly SpfRange[]): { added: SpfRange[]; removed: SpfRange[] } {
  const had = new Set(before.map(({ range }) => range));
  const has = new Set(after.map(({ range }) => range));
  return { added: after.filter(({ range }) => !had.has(range)), removed: before.filter(({ range }) => !has.has(range)) };
}
