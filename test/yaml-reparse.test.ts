import assert from 'node:assert/strict';
import { test } from 'node:test';
import jsYaml from 'js-yaml';
import { reparseChanged } from '../src/config/yaml-reparse.js';

// An edited file read again from the earlier parse: wherever it answers, the answer is js-yaml's
// for the whole file; where it cannot tell, it answers undefined (and the whole file is parsed).

const MAX_DEPTH = 64;
const load = (text: string): unknown =>
  jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, maxDepth: MAX_DEPTH } as jsYaml.LoadOptions);

const BASE = `# the domains we host
defaults: { mode: testing }
domains:
  # first
  a.example: { mx: [mx.a.example] }
  b.example:
    mode: enforce
    mx:
      - mx1.b.example
      - "*.mx.b.example"

  c.example: { mode: none }
  d.example:
    mx: [mx.d.example]
    tlsrpt: { rua: ["mailto:tls@d.example"] }
log: { level: info }
`;

const reread = (edited: string, data = load(BASE)) => reparseChanged(edited, { text: BASE, data }, MAX_DEPTH);

/** Edits a reload sees every day: it must read them again without the whole file. */
const reused: [string, string][] = [
  ['an mx added to a flow entry', BASE.replace('[mx.a.example]', '[mx.a.example, mx2.a.example]')],
  ['a block entry changed', BASE.replace('      - mx1.b.example\n', '      - mx0.b.example\n')],
  ['an entry added in the middle', BASE.replace('  c.example:', '  new.example: { mx: [mx.new.example] }\n  c.example:')],
  ['an entry added at the end', BASE.replace('log:', '  e.example: { mode: none }\nlog:')],
  ['an entry added first', BASE.replace('  # first\n', '  # first\n  z.example: { mode: none }\n')],
  ['an entry removed', BASE.replace('  c.example: { mode: none }\n', '')],
  ['the last entry removed', BASE.replace(/ {2}d\.example:\n(?: {4}.*\n)+/, '')],
  ['the first entry removed', BASE.replace('  a.example: { mx: [mx.a.example] }\n', '')],
  ['an entry replaced by another name', BASE.replace('c.example', 'cc.example')],
  ['a comment inside an entry', BASE.replace('    mode: enforce\n', '    mode: enforce # since May\n')],
  ['a line written more deeply', BASE.replace('      - mx1.b.example\n', '      -    mx1.b.example\n')],
  ['an entry cleared', BASE.replace('c.example: { mode: none }', 'c.example:')],
];

/** Edits where reading the changed lines alone could differ from the whole file, or does not pay. */
const wholeFile: [string, string][] = [
  [
    'an entry moved from first to last: every entry between is read again',
    BASE.replace('  a.example: { mx: [mx.a.example] }\n', '').replace('log:', '  a.example: { mx: [mx.a.example] }\nlog:'),
  ],
  [
    'two entries changed apart: the entries between are read again',
    BASE.replace('mx.a.example]', 'mx9.a.example]').replace('mx.d.example', 'mx9.d.example'),
  ],
  ['a top-level setting', BASE.replace('level: info', 'level: debug')],
  ['a document start marker', `---\n${BASE.replace('c.example: { mode: none }', 'c.example: { mode: testing }')}`],
  ['a top-level list', `${BASE}trust_proxy:\n  - 10.0.0.0/8\n`],
  ['everything commented out', BASE.replace(/^/gm, '# ')],
  ['a flow mapping continued less indented', BASE.replace('c.example: { mode: none }', 'c.example: { mode: none,\n mx: [x] }')],
  [
    'a quoted value continued on a line that looks like an entry',
    BASE.replace('c.example: { mode: none }', 'c.example: "none\n  e.example: x"'),
  ],
  ["a list continued at the entries' indentation", BASE.replace('c.example: { mode: none }', 'c.example:\n  - x')],
  ['a value continued as plain text', BASE.replace('c.example: { mode: none }', 'c.example: none\n  more')],
  ['a block scalar', BASE.replace('c.example: { mode: none }', 'c.example: |\n    text\n')],
  ['the defaults', BASE.replace('mode: testing', 'mode: enforce')],
  ['a new top-level key', `${BASE}state_dir: /tmp\n`],
  ['an entry outdented to the top level', BASE.replace('  c.example: { mode: none }', 'c.example: { mode: none }')],
  ['an entry indented into the one before', BASE.replace('  c.example: { mode: none }', '    c.example: { mode: none }')],
  ['a key written twice', BASE.replace('  c.example:', '  a.example: { mode: none }\n  c.example:')],
  [
    'a key written twice in the changed entry',
    BASE.replace('c.example: { mode: none }', 'c.example: { mode: none, mode: testing }'),
  ],
  ['an anchor', BASE.replace('c.example: { mode: none }', 'c.example: &none { mode: none }')],
  ['a tab', BASE.replace('c.example: { mode: none }', 'c.example:\t{ mode: none }')],
  ['a carriage return', BASE.replace('c.example: { mode: none }\n', 'c.example: { mode: none }\r\n')],
  ['a flow mapping left open', BASE.replace('c.example: { mode: none }', 'c.example: { mode: none')],
  ['a flow mapping across entries', BASE.replace('c.example: { mode: none }', 'c.example: { mode: none,\n  d.x: y }')],
  ['a key that is a number', BASE.replace('c.example', '12345')],
  ['a key js-yaml reads as a number', BASE.replace('c.example', '0x1F')],
  ['a key named __proto__', BASE.replace('c.example', '__proto__')],
  ['the block made a list', BASE.replace(/^domains:\n[^]*(?=^log:)/m, 'domains:\n  - a.example\n')],
  ['a second document', `${BASE}---\nx: 1\n`],
  ['the block emptied', BASE.replace(/^domains:\n[^]*(?=^log:)/m, 'domains:\n')],
];

test("edited entries of a block are read again alone, and the answer is js-yaml's for the whole file", () => {
  const earlier = load(BASE) as { domains: Record<string, unknown> };
  for (const [name, edited] of reused) {
    assert.notEqual(edited, BASE, name);
    const data = reread(edited, earlier) as { domains: Record<string, unknown> } | undefined;
    assert.notEqual(data, undefined, `${name}: read as a whole file`);
    assert.deepEqual(data, load(edited), name);
    // Same key order too (deepEqual does not look at it): the order of domains is the order of the config.
    assert.deepEqual(Object.keys(data!.domains), Object.keys((load(edited) as { domains: object }).domains), name);
    // The entries not edited are the earlier parse's own objects.
    const kept = Object.keys(earlier.domains).filter((key) => data!.domains[key] === earlier.domains[key]);
    assert.ok(kept.length >= Object.keys(earlier.domains).length - 2, `${name}: kept ${kept.join(', ')}`);
  }
});

test('edits it cannot read alone come back undefined, or as js-yaml reads the whole file', () => {
  for (const [name, edited] of wholeFile) {
    assert.notEqual(edited, BASE, name);
    let whole: unknown;
    try {
      whole = load(edited);
    } catch {
      assert.equal(reread(edited), undefined, `${name}: js-yaml rejects the file`);
      continue;
    }
    const data = reread(edited);
    if (data !== undefined) assert.deepEqual(data, whole, name);
  }
});

test("the same text is the earlier data; a nesting limit is the whole file's", () => {
  const data = load(BASE);
  assert.equal(reparseChanged(BASE, { text: BASE, data }, MAX_DEPTH), data);
  // Seven levels (the file, domains, the entry, mx, three lists): allowed at seven, not at six.
  const deep = BASE.replace('c.example: { mode: none }', 'c.example: { mx: [[[x]]] }');
  const loadAt = (maxDepth: number) => jsYaml.load(deep, { schema: jsYaml.CORE_SCHEMA, maxDepth } as jsYaml.LoadOptions);
  assert.throws(() => loadAt(6));
  assert.equal(reparseChanged(deep, { text: BASE, data }, 6), undefined);
  assert.deepEqual(reparseChanged(deep, { text: BASE, data }, 7), loadAt(7));
});

test('an earlier text whose lines do not cut where js-yaml reads its entries is not reused', () => {
  // js-yaml reads c.example as "none e.example: x": the line that looks like an entry is inside its value.
  const earlier = BASE.replace('c.example: { mode: none }', 'c.example: "none\n  e.example: x"');
  const edited = earlier.replace('e.example: x"', 'e.example: y"');
  const data = reparseChanged(edited, { text: earlier, data: load(earlier) }, MAX_DEPTH);
  if (data !== undefined) assert.deepEqual(data, load(edited));
});

test('an alias read as before whose anchor the edit removed is not taken from the earlier parse', () => {
  const earlier = BASE.replace('c.example: { mode: none }', 'c.example: &none { mode: none }\n  e.example: *none');
  const edited = earlier.replace('&none ', '');
  assert.throws(() => load(edited));
  assert.equal(reparseChanged(edited, { text: earlier, data: load(earlier) }, MAX_DEPTH), undefined);
});
