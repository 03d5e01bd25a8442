import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { heapSettingsLeftToUs, OLD_GENERATION_GROWTH_PERCENT, YOUNG_GENERATION_CAP_BYTES } from '../src/cli/heap-sizing.js';

const MODULE = fileURLToPath(new URL('../src/cli/heap-sizing.js', import.meta.url));

/**
 * A burst of fetch-like work for a fresh node (this runner's own heap has grown already): many
 * short turns of the event loop, each allocating objects that stay alive for a few dozen turns
 * (a connection's, under load), beside a live set that stays. `beforeBurst` runs after the live
 * set is made, `eachTurn` after each turn's allocation, `atEnd` after the last turn.
 */
function burstScript(turns: number, { beforeBurst = '', eachTurn = '', atEnd = '' }): string {
  return `
    const kept = Array.from({ length: 100000 }, (_, i) => ({ i, name: 'customer-' + i }));
    ${beforeBurst}
    const connections = [];
    let turns = 0;
    const turn = () => {
      const batch = [];
      for (let i = 0; i < 3000; i++) batch.push({ host: 'mta-sts.example.com', ip: '192.0.2.' + (i % 250), at: [i, turns] });
      connections.push(batch);
      if (connections.length > 40) connections.shift();
      ${eachTurn}
      // The live set is read at the end, so it stays live throughout.
      if (++turns < ${turns}) setImmediate(turn); else { ${atEnd}; console.error('kept ' + kept.length); }
    };
    turn();`;
}

/** What a module script printed on stdout, run by this node with `nodeArgs`, after importing the heap sizing. */
function runWithHeapSizing(imports: string, script: string, nodeArgs: string[]): string {
  const run = spawnSync(
    process.execPath,
    [...nodeArgs, '--input-type=module', '-e', `import { ${imports} } from ${JSON.stringify(MODULE)};\n${script}`],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

/** `sizeHeapForServing(sizeWith)`, or nothing for a node left to V8's own sizes. */
const sizing = (sizeWith: string | undefined): string =>
  sizeWith === undefined ? '' : `sizeHeapForServing(${JSON.stringify(sizeWith)});`;

/** The largest young generation seen over a burst, sized after an optional start that grew it. */
function largestYoungGeneration(
  sizeWith: string | undefined,
  { nodeArgs = [], grownFirst = false }: { nodeArgs?: string[]; grownFirst?: boolean } = {},
): number {
  const grow = `
    // As serve's start-up leaves it with a config of some size.
    for (let survivors = []; ${grownFirst} && youngGenerationBytes() < ${YOUNG_GENERATION_CAP_BYTES}; ) {
      survivors.push({ at: survivors.length });
      if (survivors.length > 300000) survivors = [];
    }`;
  const script = burstScript(2500, {
    beforeBurst: `${grow}\n${sizing(sizeWith)}\nlet young = 0;`,
    eachTurn: 'young = Math.max(young, youngGenerationBytes());',
    atEnd: 'console.log(young)',
  });
  const printed = runWithHeapSizing('sizeHeapForServing, youngGenerationBytes', script, nodeArgs);
  return JSON.parse(printed) as number;
}

test('sized for serving after a start that grew the young generation to 16 MiB, a burst takes it no further', () => {
  const unsized = largestYoungGeneration(undefined, { grownFirst: true });
  const sized = largestYoungGeneration('', { grownFirst: true });
  assert.ok(unsized > YOUNG_GENERATION_CAP_BYTES, `unsized, the burst reaches only ${unsized} bytes: the test proves nothing`);
  // Node 20 stops at the cap. Node 24's V8 also grows the space by other ways than the growth
  // factor when this much survives, but stops well short of its own maximum (128 MiB); under the
  // shared bench's loads it stayed at the cap.
  assert.ok(sized >= YOUNG_GENERATION_CAP_BYTES && sized <= unsized / 2, `young: ${sized} bytes, ${unsized} unsized`);
});

test('sized for serving while the young generation is small, it stops growing before V8 would stop it', () => {
  const unsized = largestYoungGeneration(undefined);
  // The cap is set when the GC notification arrives, a few scavenges after the growth (Node 24
  // may grow it again meanwhile): below V8's own maximum, not exactly at the cap.
  assert.ok(largestYoungGeneration('') < unsized);
});

/**
 * The limits V8 sets for the old generation at each full collection of a burst sized from its
 * first line, as its GC trace prints them: what the collection kept and where the next one
 * starts. V8 computes the limit as kept × growth factor plus the young generation's size.
 */
function oldGenerationLimits(sizeWith: string | undefined, nodeArgs: string[] = []): { kept: number; limit: number }[] {
  const script = `${sizing(sizeWith)}\n${burstScript(1500, {})}`;
  const trace = runWithHeapSizing('sizeHeapForServing', script, [...nodeArgs, '--trace-gc-verbose']);
  return [...trace.matchAll(/\[HeapController\] Limit: old size: (\d+) KB, new limit: (\d+) KB/g)].map(([, kept, limit]) => ({
    kept: Number(kept) * 1024,
    limit: Number(limit) * 1024,
  }));
}

/** The most a limit may be when the old generation grows by OLD_GENERATION_GROWTH_PERCENT. */
const grownByHalf = (kept: number): number => kept * (1 + OLD_GENERATION_GROWTH_PERCENT / 100) + YOUNG_GENERATION_CAP_BYTES;

test('sized for serving, every full collection lets the old generation grow by half of what it kept, not by what V8 would choose', () => {
  // V8 alone chooses its growth (up to 4×) from how fast it measures the collector against the
  // program, which a busy machine changes: its peak is no yardstick. On an idle machine this burst
  // peaked at 53 against 129 MiB on Node 20, 83 against 191 MiB on Node 24; in one CI run V8 alone
  // kept it at 38 MiB.
  const sized = oldGenerationLimits('');
  assert.ok(sized.length >= 5, `${sized.length} full collections in the burst: the test proves nothing`);
  for (const { kept, limit } of sized) assert.ok(limit <= grownByHalf(kept), `kept ${kept} bytes, next collection at ${limit}`);
});

test("an operator's own heap options are left to rule", () => {
  assert.deepEqual(heapSettingsLeftToUs(' '), { oldGenerationGrowth: true, youngGenerationCap: true });
  assert.deepEqual(heapSettingsLeftToUs('--max-semi-space-size=64 '), { oldGenerationGrowth: true, youngGenerationCap: false });
  assert.deepEqual(heapSettingsLeftToUs('--enable-source-maps --heap_growing_percent=300'), {
    oldGenerationGrowth: false,
    youngGenerationCap: true,
  });
  // And in effect: the operator’s larger young generation passes the cap, and their growth the half.
  const nodeArgs = ['--max-semi-space-size=64'];
  assert.ok(largestYoungGeneration(nodeArgs.join(' '), { nodeArgs, grownFirst: true }) > YOUNG_GENERATION_CAP_BYTES);
  const growthArgs = ['--heap-growing-percent=300'];
  const limits = oldGenerationLimits(growthArgs.join(' '), growthArgs);
  assert.ok(limits.length > 0 && limits.every(({ kept, limit }) => limit > grownByHalf(kept)), JSON.stringify(limits));
});
