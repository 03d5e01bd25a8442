import type { Logger } from 'pino';
import { createFetchLog, type Attribution, type FetchRecorder, type PolicyFetch } from './fetch-log.js';
import type { LogLimit } from './log-limit.js';
import type { ProviderClassifier, ProviderVerdict } from './providers.js';
import type { ReverseDns } from './reverse-dns.js';

/**
 * What wants to hear of policy fetches besides the log: metrics, statistics, whatever comes next.
 * A sink is handed in and told; it never reaches back into the parts that serve the policy.
 */
export interface FetchSink {
  /** Every fetch, as soon as it is logged (or its line suppressed), with the verdict from address and user agent. */
  fetched?(fetch: PolicyFetch, verdict: ProviderVerdict): void;
  /** Every fetch once its attribution is final: at once, or when its reverse DNS answers. */
  attributed?(fetch: PolicyFetch, attribution: Attribution): void;
  /** At stop, after the last fetch has been handed on: write what is pending, release what is held. */
  close?(): Promise<void> | void;
}

export interface FetchPipelineOptions {
  log: Logger;
  /** The classifier in effect now: a provider refresh replaces it while fetches flow. */
  classifier: () => ProviderClassifier;
  /** Bounds the lines of requests that are not policy fetches of our domains. */
  limit?: LogLimit;
  /** Confirmed reverse DNS for public addresses: a second log line, and attribution for addresses no range covers. */
  reverseDns?: ReverseDns;
  sinks: readonly FetchSink[];
  /**
   * Record the fetches of each turn of the event loop together, after it (setImmediate), rather
   * than each one as it is answered: the attribution, the line and the sinks' code then run hot,
   * one fetch after the other. For a log that is late anyway (log.buffer_bytes), whose flushes
   * call drain() first.
   */
  batched?: boolean;
}

/** The responder's recorder, and the stop that lets what is in flight finish. */
export interface FetchPipeline {
  readonly record: FetchRecorder;
  /** Records the fetches a batched pipeline holds, now. */
  drain(): void;
  /** Records what it holds, waits for pending reverse-DNS answers (so their fetches are counted), then closes the log limit and the sinks. */
  close(): Promise<void>;
}

/** One fetch flows one way: responder → fetch log → attribution (reverse DNS) → sinks. */
export function createFetchPipeline({
  log,
  classifier,
  limit,
  reverseDns,
  sinks,
  batched = false,
}: FetchPipelineOptions): FetchPipeline {
  const fetched = sinks.flatMap((sink) => (sink.fetched ? [sink.fetched.bind(sink)] : []));
  const attributed = sinks.flatMap((sink) => (sink.attributed ? [sink.attributed.bind(sink)] : []));
  const recordNow = createFetchLog(log, classifier, {
    ...(limit && { limit }),
    ...(reverseDns && { reverseDns }),
    ...(fetched.length > 0 && {
      observe: (fetch: PolicyFetch, verdict: ProviderVerdict) => {
        for (const sink of fetched) sink(fetch, verdict);
      },
    }),
    ...(attributed.length > 0 && {
      attributed: (fetch: PolicyFetch, attribution: Attribution) => {
        for (const sink of attributed) sink(fetch, attribution);
      },
    }),
  });
  let held: PolicyFetch[] = [];
  const drain = () => {
    const batch = held;
    held = [];
    for (const fetch of batch) recordNow(fetch);
  };
  return {
    record: batched
      ? (fetch) => {
          if (held.push(fetch) === 1) setImmediate(drain);
        }
      : recordNow,
    drain,
    async close() {
      drain();
      await reverseDns?.drain();
      limit?.close();
      for (const sink of sinks) await sink.close?.();
    },
  };
}
