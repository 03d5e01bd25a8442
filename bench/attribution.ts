/**
 * Policy throughput with provider attribution and fetch statistics on (as deployed) against the
 * same service with both off. Both are the real service with the fetch log on; keep-alive only,
 * where per-request cost shows (with a new connection per request the TLS handshake dominates).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { FetchStatisticsRecorder } from '../src/fetches/fetch-statistics.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE } from '../src/fetches/providers.js';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { stateDatabasePath } from '../src/storage/state-dir.js';
import {
  alternateRuns,
  countLines,
  FETCH_LINE,
  fixtureVariant,
  startService,
  stopServer,
  type HttpsFixture,
  type Run,
  type Timing,
} from './https.js';

/** on: shipped provider list and statistics, as deployed; off: an empty provider list and no statistics. */
export type Setting = 'on' | 'off';

export const FLUSH_INTERVAL_S = 10;
/** Written for a fetch from a public address once its reverse DNS is known: each one is a DNS query. */
const REVERSE_DNS_LINE = '"event":"policy_fetch_ptr"';

export interface StatisticsCheck {
  /** policy_fetch lines in the ON service's log: one per request, warm-up included. */
  loggedFetches: number;
  /** Fetches in the ON service's database after it stopped (stop writes the last batch). */
  storedFetches: number | null;
  /** The same read while it still ran, after the last run: what its periodic flushes had written. */
  storedWhileRunning: number | null;
  /** storedFetches === loggedFetches. */
  match: boolean;
  /** Why the database could not be read, if it could not. */
  error?: string;
  /** policy_fetch lines in the OFF service's log. */
  offLoggedFetches: number;
  /** policy_fetch_ptr lines in both logs: each would be a reverse DNS query. 0 expected (the load is from loopback). */
  reverseDnsLines: number;
  /** Whether the OFF service created a statistics database; it must not. */
  offDatabase: boolean;
}

export interface AttributionComparison {
  runs: Run<Setting>[];
  peakRssMb: Record<Setting, number>;
  statistics: StatisticsCheck;
}

/**
 * Both services stay up for the whole comparison, keep-alive runs alternating (ON OFF, OFF ON,
 * ...); then they are stopped and the ON service's database is checked against its fetch log.
 */
export async function runAttributionComparison(
  fixture: HttpsFixture,
  work: string,
  timing: Timing,
  progress: (run: Run<Setting>) => void,
): Promise<AttributionComparison> {
  const dir = join(work, 'attribution');
  await mkdir(dir, { recursive: true });
  // Beside the config folders, not in them: the service watches its config folder.
  const emptyProviders = join(dir, 'providers-empty.yaml');
  await writeFile(emptyProviders, 'providers: {}\n');
  const on = await fixtureVariant(fixture, join(dir, 'on'), [
    `statistics: { enabled: true, flush_interval_s: ${FLUSH_INTERVAL_S} }`,
  ]);
  const off = await fixtureVariant(fixture, join(dir, 'off'), ['statistics: { enabled: false }']);
  const [onServer, offServer] = await Promise.all([
    startService(on, 'service.log'),
    startService(off, 'service.log', emptyProviders),
  ]);
  const runs = await alternateRuns({ on: onServer, off: offServer }, ['on', 'off'], ['keep-alive'], fixture, timing, progress);

  // The state_dir is ../state from each config folder.
  const onState = join(on.dir, 'state');
  const whileRunning = await storedFetches(onState);
  const peakRssMb = await Promise.all([stopServer(onServer), stopServer(offServer)]);
  const afterStop = await storedFetches(onState);
  const [onLog, offLog] = await Promise.all(
    [onServer, offServer].map((server) => countLines(server.logPath, [FETCH_LINE, REVERSE_DNS_LINE])),
  );
  const loggedFetches = onLog!.matching[0]!;
  const error = afterStop.error ?? whileRunning.error;
  return {
    runs,
    peakRssMb: { on: peakRssMb[0], off: peakRssMb[1] },
    statistics: {
      loggedFetches,
      storedFetches: afterStop.fetches,
      storedWhileRunning: whileRunning.fetches,
      match: afterStop.fetches === loggedFetches,
      ...(error !== undefined && { error }),
      offLoggedFetches: offLog!.matching[0]!,
      reverseDnsLines: onLog!.matching[1]! + offLog!.matching[1]!,
      offDatabase: existsSync(stateDatabasePath(join(off.dir, 'state'))),
    },
  };
}

/** All fetches stored in a state dir's database, read as `mta-sts-server stats` reads it (read-only, beside the writer). */
async function storedFetches(stateDir: string): Promise<{ fetches: number | null; error?: string }> {
  let store: SqliteFetchStatistics | undefined;
  try {
    store = SqliteFetchStatistics.openReadOnly(stateDir);
    const rows = await store.query({ sinceDay: '2000-01-01' });
    return { fetches: rows.reduce((sum, row) => sum + row.fetches, 0) };
  } catch (error) {
    return { fetches: null, error: (error as Error).message };
  } finally {
    await store?.close();
  }
}

/** The request-path work attribution and statistics add, timed in this process (µs per fetch, best of interleaved slices). */
export interface AddedWork {
  classifyShippedUs: number;
  classifyEmptyUs: number;
  recordUs: number;
}

const ADDED_WORK_SLICES = 5;
const ADDED_WORK_ITERATIONS = 200_000;

/**
 * What the ON service does per request that the OFF one does not, measured without sockets or
 * load generator, so that the machine's drift between runs does not hide a cost of a few percent:
 * the classifier with the shipped list against an empty one (the bench's address and user agent),
 * and one statistics record into a real recorder (SQLite store, memory only until a batch).
 */
export async function measureAddedWork(work: string, userAgent: string): Promise<AddedWork> {
  const shipped = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  const empty = ProviderClassifier.fromData({ providers: {} }, 'empty provider list');
  const store = SqliteFetchStatistics.open(join(work, 'added-work-state'));
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 400,
    log: pino({ level: 'silent' }),
  });
  let sink = 0;
  const perCallUs = (call: () => void) => {
    const started = performance.now();
    for (let i = 0; i < ADDED_WORK_ITERATIONS; i++) call();
    return ((performance.now() - started) * 1000) / ADDED_WORK_ITERATIONS;
  };
  const samples = { shipped: [] as number[], empty: [] as number[], record: [] as number[] };
  for (let slice = 0; slice < ADDED_WORK_SLICES; slice++) {
    samples.shipped.push(perCallUs(() => (sink += shipped.classify('127.0.0.1', userAgent).provider.length)));
    samples.empty.push(perCallUs(() => (sink += empty.classify('127.0.0.1', userAgent).provider.length)));
    samples.record.push(
      perCallUs(() =>
        recorder.record({
          atMs: Date.now(),
          domain: 'example.com',
          provider: 'unknown',
          ip: '127.0.0.1',
          policyId: 'id',
          claimed: false,
        }),
      ),
    );
  }
  await recorder.close();
  if (sink === 0) throw new Error('the classifier returned nothing');
  return {
    classifyShippedUs: Math.min(...samples.shipped),
    classifyEmptyUs: Math.min(...samples.empty),
    recordUs: Math.min(...samples.record),
  };
}
