import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';

/**
 * Where the young generation stops growing. V8 doubles it whenever much of it survives a
 * scavenge, up to 32 MiB on Node 20 and 128 MiB on Node 24, and keeps it; what a fetch
 * allocates is dead within the request, so 16 MiB holds many bursts' worth. Node 24's V8 has
 * other ways to grow it when very much survives (test/heap-sizing.test.ts), which the shared
 * bench's loads did not set off.
 */
export const YOUNG_GENERATION_CAP_BYTES = 16 * 1024 * 1024;

/**
 * How far the old generation may grow past what the last full collection kept, in percent.
 * V8 chooses up to 300 % for a small heap; the objects of connections that outlive two
 * scavenges (a new connection under load) then pile up as garbage until the next full
 * collection. The service's live heap is small and a full collection of it short.
 */
export const OLD_GENERATION_GROWTH_PERCENT = 50;
/**
 * Above this heap (a hosting provider's 100 000 domains are about 280 MB) V8 already grows it
 * slowly, and 50 % was more than it chose: the scale bench's peak rose from 575–579 MB to 597–607 MB.
 */
const SMALL_HEAP_BYTES = 64 * 1024 * 1024;

/** What `--max-semi-space-size`, `--heap-growing-percent` and their relatives look like in NODE_OPTIONS or on node's command line. */
const SEMI_SPACE_OPTION = /semi[-_]space/;
const HEAP_GROWING_OPTION = /heap[-_]growing/;

/**
 * Sizes V8's heap for serving, once started (issue 14: peak memory). Under the shared bench's
 * loads (README, Benchmark) the peak RSS went from 143–145 MB to 109–111 MB on Node 20 (1.01–1.03
 * × node-pino) and, with the young generation's cap, from 232 MB to 157–164 MB on Node 24. Its
 * keep-alive price when it came (0.66 × node-pino instead of 0.74–0.79: more full collections)
 * is no longer measurable since the fetch got cheaper: V8's own sizes measure 0.98–0.99 × these
 * side by side (README, Benchmark).
 * V8 fixes its sizes when the process starts, which a command run as `node main.js` cannot
 * reach; the growth settings it reads at each collection can be set later. An operator's own
 * option in NODE_OPTIONS or on node's command line is left to rule. Returns the stop of the
 * watch on the young generation.
 */
export function sizeHeapForServing(nodeOptions = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`): () => void {
  const { oldGenerationGrowth, youngGenerationCap } = heapSettingsLeftToUs(nodeOptions);
  if (oldGenerationGrowth && getHeapStatistics().used_heap_size < SMALL_HEAP_BYTES)
    setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`);
  if (!youngGenerationCap) return () => {};
  const capIfGrown = (): boolean => {
    if (youngGenerationBytes() < YOUNG_GENERATION_CAP_BYTES) return false;
    setFlagsFromString('--semi-space-growth-factor=1');
    return true;
  };
  if (capIfGrown()) return () => {};
  // Growth happens in a scavenge, and the entry arrives on a later turn of the event loop: Node
  // 24's V8, which also grows the space a page at a time, may add a few pages before it does.
  const observer = new PerformanceObserver(() => {
    if (capIfGrown()) observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

/** Which of the two sizes the operator's node options leave to sizeHeapForServing. */
export function heapSettingsLeftToUs(nodeOptions: string): { oldGenerationGrowth: boolean; youngGenerationCap: boolean } {
  return {
    oldGenerationGrowth: !HEAP_GROWING_OPTION.test(nodeOptions),
    youngGenerationCap: !SEMI_SPACE_OPTION.test(nodeOptions),
  };
}

export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}
