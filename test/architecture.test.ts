import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The layers of src/, bottom to top. An import may go sideways (same layer) or down, never up;
 * there are no cycles between folders nor between files. The README's "Architecture" section
 * shows the same table.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['text', 'net', 'policy', 'log', 'files', 'time'],
  ['config', 'storage', 'dns'],
  ['tls', 'fetches', 'metrics', 'reports', 'lifecycle', 'health'],
  ['dashboard', 'server'],
  ['service', 'cli'],
];

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

interface Import {
  from: string;
  to: string;
  line: number;
}

const layerOf = (folder: string) => LAYERS.findIndex((layer) => layer.includes(folder));
const folderOf = (file: string) => file.split('/')[0]!;

// Static `import ... from '...'` and `export ... from '...'` (type-only ones too), `import '...'`, and `import('...')`.
const IMPORT = /^[ \t]*(?:import|export)\b[^;'"]*?\bfrom\s*'([^']+)'|^[ \t]*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/gm;

/** The relative imports of each file (paths relative to src/, `.ts`), with the line each is on. */
function importsOf(files: ReadonlyMap<string, string>): Import[] {
  const imports: Import[] = [];
  for (const [from, text] of files) {
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3]!;
      if (!specifier.startsWith('.')) continue;
      const to = posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
      const line = text.slice(0, match.index + match[0].indexOf(specifier)).split('\n').length;
      imports.push({ from, to, line });
    }
  }
  return imports;
}

/** A cycle in the graph, as the list of its nodes with the first repeated at the end; undefined when there is none. */
function findCycle(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of [...(edges.get(node) ?? [])].sort()) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...edges.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

function addEdge(edges: Map<string, Set<string>>, from: string, to: string): void {
  let targets = edges.get(from);
  if (!targets) edges.set(from, (targets = new Set()));
  targets.add(to);
}

/** Every rule the import graph breaks, one message each; none when it keeps them all. */
function importGraphProblems(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const imports = importsOf(files);
  const fileEdges = new Map<string, Set<string>>();
  const folderEdges = new Map<string, Set<string>>();
  const example = new Map<string, Import>();
  for (const folder of new Set([...files.keys()].map(folderOf))) {
    if (layerOf(folder) < 0)
      problems.push(`src/${folder}/ is in no layer: add it to LAYERS (test/architecture.test.ts) and the README`);
  }
  for (const edge of imports) {
    const at = `src/${edge.from}:${edge.line}`;
    if (!files.has(edge.to)) {
      problems.push(`${at} imports src/${edge.to}, which is not a file of src/`);
      continue;
    }
    addEdge(fileEdges, edge.from, edge.to);
    const [from, to] = [folderOf(edge.from), folderOf(edge.to)];
    if (from === to) continue;
    addEdge(folderEdges, from, to);
    if (!example.has(`${from} ${to}`)) example.set(`${from} ${to}`, edge);
    const [fromLayer, toLayer] = [layerOf(from), layerOf(to)];
    if (fromLayer >= 0 && toLayer > fromLayer) {
      problems.push(
        `${at} imports src/${edge.to}: ${from} (layer ${fromLayer}) must not import ${to} (layer ${toLayer}), a higher layer`,
      );
    }
  }
  const folderCycle = findCycle(folderEdges);
  if (folderCycle) {
    const steps = folderCycle.slice(1).map((to, i) => {
      const edge = example.get(`${folderCycle[i]} ${to}`)!;
      return `  ${folderCycle[i]} → ${to} (src/${edge.from}:${edge.line})`;
    });
    problems.push(`a cycle between folders: ${folderCycle.join(' → ')}\n${steps.join('\n')}`);
  }
  const fileCycle = findCycle(fileEdges);
  if (fileCycle) problems.push(`a cycle between files: ${fileCycle.map((file) => `src/${file}`).join(' → ')}`);
  return problems;
}

function sourceFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(SRC, { recursive: true }) as string[]) {
    const path = entry.split('\\').join('/');
    if (path.endsWith('.ts')) files.set(path, readFileSync(join(SRC, path), 'utf8'));
  }
  return files;
}

test('src/: no import goes up a layer, and there are no cycles between folders or files', () => {
  const files = sourceFiles();
  assert.ok(files.size > 50, `only ${files.size} source files found under ${SRC}`);
  assert.deepEqual(importGraphProblems(files), []);
});

test('the check names the file, line and layers of an upward import, and prints each cycle', () => {
  const files = new Map([
    ['policy/policy.ts', "import type { Config } from '../config/schema.js';\n"],
    ['config/schema.ts', "import { z } from 'zod';\nimport { policyIdOf } from '../policy/policy.js';\n"],
    ['gadgets/x.ts', "import './y.js';\n"],
  ]);
  assert.deepEqual(importGraphProblems(files), [
    'src/gadgets/ is in no layer: add it to LAYERS (test/architecture.test.ts) and the README',
    'src/policy/policy.ts:1 imports src/config/schema.ts: policy (layer 0) must not import config (layer 1), a higher layer',
    'src/gadgets/x.ts:1 imports src/gadgets/y.ts, which is not a file of src/',
    'a cycle between folders: config → policy → config\n  config → policy (src/config/schema.ts:2)\n  policy → config (src/policy/policy.ts:1)',
    'a cycle between files: src/config/schema.ts → src/policy/policy.ts → src/config/schema.ts',
  ]);
  // Re-exports and dynamic imports are imports too.
  const reexports = new Map([
    ['fetches/a.ts', "export { b } from './b.js';\n"],
    ['fetches/b.ts', "const a = await import('./a.js');\n"],
  ]);
  assert.deepEqual(importGraphProblems(reexports), [
    'a cycle between files: src/fetches/a.ts → src/fetches/b.ts → src/fetches/a.ts',
  ]);
});
