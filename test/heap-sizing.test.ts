import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { heapSettingsLeftToUs, YOUNG_GENERATION_CAP_BYTES } from '../src/cli/heap-sizing.js';

const MODULE = fileURLToPath(new URL('../src/cli/heap-sizing.js', import.meta.url));

/**
 * A burst of fetch-like work in a fresh node (this runner's own heap has grown already): many
 * short turns of the event loop, each allocating objects that stay alive for a few dozen turns
 * (a connection's, under load), beside a live set that stays. Prints the largest young and old
 * generation seen.
 */
function largestGenerations(
  sizeWith: string | undefined,
  { nodeArgs = [], grownFirst = false }: { nodeArgs?: string[]; grownFirst?: boolean } = {},
): { young: number; old: number } {
  const script = `
    import { sizeHeapForServing, youngGenerationBytes, oldGenerationBytes } from ${JSON.stringify(MODULE)};
    const kept = Array.from({ length: 100000 }, (_, i) => ({ i, name: 'customer-' + i }));
    // As serve's start-up leaves it with a config of some size.
    for (let survivors = []; ${grownFirst} && youngGenerationBytes() < ${YOUNG_GENERATION_CAP_BYTES}; ) {
      survivors.push({ at: survivors.length });
      if (survivors.length > 300000) survivors = [];
    }
    ${sizeWith === undefined ? '' : `sizeHeapForServing(${JSON.stringify(sizeWith)});`}
    const connections = [];
    let young = 0, old = 0, turns = 0;
    const turn = () => {
      const batch = [];
      for (let i = 0; i < 3000; i++) batch.push({ host: 'mta-sts.example.com', ip: '192.0.2.' + (i % 250), at: [i, turns] });
      connections.push(batch);
      if (connections.length > 40) connections.shift();
      young = Math.max(young, youngGenerationBytes());
      old = Math.max(old, oldGenerationBytes());
      if (++turns < 2500) setImmediate(turn); else console.log(JSON.stringify({ young, old, kept: kept.length }));
    };
    turn();`;
  const run = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { young: number; old: number };
}

test('sized for serving after a start that grew the young generation to 16 MiB, a burst takes it no further', () => {
  const unsized = largestGenerations(undefined, { grownFirst: true });
  const sized = largestGenerations('', { grownFirst: true });
  assert.ok(
    unsized.young > YOUNG_GENERATION_CAP_BYTES,
    `unsized, the burst reaches only ${unsized.young} bytes: the test proves nothing`,
  );
  // Node 20 stops at the cap. Node 24's V8 also grows the space by other ways than the growth
  // factor when this much survives, but stops well short of its own maximum (128 MiB); under the
  // shared bench's loads it stayed at the cap.
  assert.ok(
    sized.young >= YOUNG_GENERATION_CAP_BYTES && sized.young <= unsized.young / 2,
    `young: ${sized.young} bytes, ${unsized.young} unsized`,
  );
});

test('sized for serving while the young generation is small, it stops growing before V8 would stop it', () => {
  const unsized = largestGenerations(undefined);
  // The cap is set when the GC notification arrives, a few scavenges after the growth (Node 24
  // may grow it again meanwhile): below V8's own maximum, not exactly at the cap.
  assert.ok(largestGenerations('').young < unsized.young);
});

test('sized for serving, the old generation holds less garbage than V8 would let pile up', () => {
  const unsized = largestGenerations(undefined, { grownFirst: true });
  const sized = largestGenerations('', { grownFirst: true });
  // Measured: 53 against 129 MiB on Node 20, 83 against 191 MiB on Node 24.
  assert.ok(sized.old < 0.7 * unsized.old, `old: ${sized.old} bytes sized, ${unsized.old} bytes not`);
});

test("an operator's own heap options are left to rule", () => {
  assert.deepEqual(heapSettingsLeftToUs(' '), { oldGenerationGrowth: true, youngGenerationCap: true });
  assert.deepEqual(heapSettingsLeftToUs('--max-semi-space-size=64 '), { oldGenerationGrowth: true, youngGenerationCap: false });
  assert.deepEqual(heapSettingsLeftToUs('--enable-source-maps --heap_growing_percent=300'), {
    oldGenerationGrowth: false,
    youngGenerationCap: true,
  });
  // And in effect: the operator’s larger young generation passes the cap.
  const nodeArgs = ['--max-semi-space-size=64'];
  assert.ok(largestGenerations(nodeArgs.join(' '), { nodeArgs, grownFirst: true }).young > YOUNG_GENERATION_CAP_BYTES);
});
