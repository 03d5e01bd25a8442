import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { YOUNG_GENERATION_CAP_BYTES } from '../src/cli/young-generation.js';

const MODULE = fileURLToPath(new URL('../src/cli/young-generation.js', import.meta.url));

/**
 * A burst of fetch-like work in a fresh node (this runner's own heap has grown already): many
 * short turns of the event loop, each allocating objects of which a window stays alive for a
 * while, which is what makes V8 grow its young generation. Prints its largest size.
 */
function largestYoungGeneration(capWith: string | undefined, nodeArgs: string[] = []): number {
  const script = `
    import { capYoungGeneration, youngGenerationBytes } from ${JSON.stringify(MODULE)};
    ${capWith === undefined ? '' : `capYoungGeneration(${JSON.stringify(capWith)});`}
    let live = [], largest = 0, turns = 0;
    const turn = () => {
      for (let i = 0; i < 4000; i++) {
        live.push({ host: 'mta-sts.example.com', ip: '192.0.2.' + (i % 250), at: i });
        if (live.length > 150000) live = [];
      }
      largest = Math.max(largest, youngGenerationBytes());
      if (++turns < 2500) setImmediate(turn); else console.log(largest);
    };
    turn();`;
  const run = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return Number(run.stdout.trim());
}

test('the young generation stops growing at 16 MiB under a burst; uncapped, the same burst takes it further', () => {
  const uncapped = largestYoungGeneration(undefined);
  assert.ok(uncapped > YOUNG_GENERATION_CAP_BYTES, `uncapped the burst reaches only ${uncapped} bytes: the test proves nothing`);
  // Node 24's V8 also grows it a few pages at a time, and may do so in the scavenges before the
  // notification arrives; the doubling that follows, and the ones after it (to 128 MiB), do not come.
  const capped = largestYoungGeneration('');
  assert.ok(capped >= YOUNG_GENERATION_CAP_BYTES && capped < 2 * YOUNG_GENERATION_CAP_BYTES, `${capped} bytes`);
});

test("an operator's own semi-space option is left to rule", () => {
  const option = '--max-semi-space-size=64';
  assert.ok(largestYoungGeneration(option, [option]) > YOUNG_GENERATION_CAP_BYTES);
});
