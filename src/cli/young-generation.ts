import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * Where the young generation stops growing. V8 doubles it whenever much of it survives a
 * scavenge, up to 32 MiB on Node 20 and 128 MiB on Node 24; under a burst of fetches it got
 * there and stayed, a quarter of the service's memory on Node 20 (issue 14: peak RSS). What a
 * fetch allocates is dead within the request, so 16 MiB holds many bursts' worth. Under the
 * shared bench's sequence of loads, the peak RSS on Node 24 (the container's) went from 232 MB
 * to 157–164 MB; on Node 20, whose young generation stops at 32 MiB anyway, it stayed within
 * the noise (134–144 MB against 140–145 MB).
 */
export const YOUNG_GENERATION_CAP_BYTES = 16 * 1024 * 1024;

/** What `--max-semi-space-size` and its relatives in NODE_OPTIONS or on node's command line look like. */
const SEMI_SPACE_OPTION = /semi[-_]space/;

/**
 * Stops the young generation's growth once it reaches YOUNG_GENERATION_CAP_BYTES (at once, if
 * the start-up already took it there). V8 fixes its maximum when the process starts, which a
 * command run as `node main.js` cannot reach; the growth factor it reads at each growth can be
 * set later. An operator's own semi-space option is left to rule. Returns the stop of the watch.
 */
export function capYoungGeneration(nodeOptions = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`): () => void {
  if (SEMI_SPACE_OPTION.test(nodeOptions)) return () => {};
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

export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}
