import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText, type ConfigLoadResult } from '../src/config/load.js';
import { diffPolicySets } from '../src/policy/policy-diff.js';
import { PolicySet } from '../src/policy/policy-set.js';

// A reload hands loadConfigText the previous load's `reuse` and validates only the domain entries
// written differently: whatever the edit, the answer must be the one a load from scratch gives.

const PATH = '/etc/mta-sts/mta-sts.yaml';

const BASE = `defaults:
  mode: testing
  max_age: 604800
  tlsrpt: { rua: [mailto:tls@example.com] }
domains:
  example.com: { mode: enforce, mx: [mx1.example.com, "*.mx.example.com"] }
  example.org:
    mx: [mx1.example.org]
    tlsrpt: { rua: ["https://reports.example.org/tls"] }
  example.net: { mode: none }
  short.example: { mode: enforce, mx: [mx.short.example], max_age: 3600 }
  Upper.Example: { mx: [mx.upper.example] }
log: { level: info }
state_dir: state
`;

const loaded = (result: ConfigLoadResult) => {
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return result;
};

/** The answer without what each load keeps for the next: that holds the file's data, which differs by object. */
const answer = (result: ConfigLoadResult) =>
  result.ok ? { config: result.config, warnings: result.warnings } : { errors: result.errors };

const edits: [string, (text: string) => string][] = [
  ['the same text', (text) => text],
  ['one domain changed', (text) => text.replace('mx: [mx1.example.org]', 'mx: [mx1.example.org, mx2.example.org]')],
  ['one domain added', (text) => text.replace('log:', '  added.example: { mx: [mx.added.example] }\nlog:')],
  ['one domain removed', (text) => text.replace('  example.net: { mode: none }\n', '')],
  ['a domain cleared to the defaults', (text) => text.replace('example.net: { mode: none }', 'example.net:')],
  [
    'a domain moved to the end',
    (text) => text.replace('  example.net: { mode: none }\n', '').replace('log:', '  example.net: { mode: none }\nlog:'),
  ],
  ['the default mode', (text) => text.replace('mode: testing', 'mode: enforce')],
  ['the default max_age', (text) => text.replace('max_age: 604800', 'max_age: 1209600')],
  ['the default tlsrpt', (text) => text.replace('mailto:tls@example.com', 'mailto:reports@example.com')],
  ['the defaults left out', (text) => text.replace(/^defaults:\n(?: {2}.*\n)+/, '')],
  ['a global setting', (text) => text.replace('level: info', 'level: debug')],
  [
    'a changed domain gets a warning',
    (text) =>
      text.replace(
        '{ mode: enforce, mx: [mx1.example.com, "*.mx.example.com"] }',
        '{ mode: enforce, mx: [mx1.example.com], max_age: 60 }',
      ),
  ],
  ['a domain renamed to another spelling of itself', (text) => text.replace('Upper.Example', 'upper.example.')],
  // Rejected edits: the errors must be located and worded as a load from scratch words them.
  ['an added duplicate of an unchanged domain', (text) => text.replace('log:', '  EXAMPLE.com: { mx: [mx.example.com] }\nlog:')],
  ['a renamed domain that duplicates another', (text) => text.replace('short.example', 'example.org.')],
  ['an invalid changed domain', (text) => text.replace('example.net: { mode: none }', 'example.net: { mode: nothing, mx: 5 }')],
  [
    'a changed domain without the mx its mode needs',
    (text) => text.replace('example.net: { mode: none }', 'example.net: { mode: testing }'),
  ],
  ['an invalid default', (text) => text.replace('max_age: 604800', 'max_age: -5')],
  ['an invalid global setting', (text) => text.replace('level: info', 'level: loud')],
  ['an unknown key beside the domains', (text) => text.replace('state_dir: state', 'state_dir: state\nstate_dri: state')],
  ['an invalid domain name added', (text) => text.replace('log:', '  bad_name!: { mx: [mx.example.com] }\nlog:')],
  ['domains no longer a mapping', (text) => text.replace(/^domains:\n(?: {2}.*\n)+/m, 'domains: [example.com]\n')],
  ['YAML that does not parse', (text) => text.replace('log: { level: info }', 'log: { level: info')],
];

test('a reload that reuses the previous load answers as a load from scratch: one domain changed, added, removed, the defaults, a global setting, and rejected edits', () => {
  const base = loaded(loadConfigText(BASE, PATH, {}));
  for (const [name, edit] of edits) {
    const text = edit(BASE);
    if (name !== 'the same text') assert.notEqual(text, BASE, `${name}: the edit changes nothing`);
    const fromScratch = loadConfigText(text, PATH, {});
    const reusing = loadConfigText(text, PATH, {}, base.reuse);
    assert.deepEqual(answer(reusing), answer(fromScratch), name);
  }
});

test('edits made one after another, each reusing the last valid load, answer as loads from scratch', () => {
  let reuse = loaded(loadConfigText(BASE, PATH, {})).reuse;
  let text = BASE;
  for (const [name, edit] of edits) {
    text = edit(text);
    const fromScratch = loadConfigText(text, PATH, {});
    const reusing = loadConfigText(text, PATH, {}, reuse);
    assert.deepEqual(answer(reusing), answer(fromScratch), name);
    // A rejected edit keeps the last good load, as the reloader does; the next edit is made to the rejected text.
    if (reusing.ok) reuse = reusing.reuse;
  }
});

test('the unchanged domains keep their policy objects and served policies; the changed one is validated and served anew', () => {
  const base = loaded(loadConfigText(BASE, PATH, {}));
  const edited = loaded(
    loadConfigText(BASE.replace('mx: [mx1.example.org]', 'mx: [mx1.example.org, mx2.example.org]'), PATH, {}, base.reuse),
  );
  const changed = edited.config.domains.filter((domain, index) => domain !== base.config.domains[index]);
  assert.deepEqual(
    changed.map((domain) => domain.name),
    ['example.org'],
  );
  const before = new PolicySet(base.config.domains);
  const after = new PolicySet(edited.config.domains, before);
  const replaced = [...after.policies].filter((served) => before.forHost(served.host) !== served);
  assert.deepEqual(
    replaced.map((served) => served.domain),
    ['example.org'],
  );
  // The served set is the one built from scratch, body and id included.
  assert.deepEqual([...after.policies], [...new PolicySet(edited.config.domains).policies]);
  assert.deepEqual(
    diffPolicySets(before, after).changed.map((change) => [change.domain, change.mx_added]),
    [['example.org', ['mx2.example.org']]],
  );
});

test('edits to a long list of domains, near and far apart, answer as loads from scratch', () => {
  const domain = (index: number) =>
    `  d${index}.example: { mode: ${index % 3 === 0 ? 'enforce' : 'testing'}, mx: [mx.d${index}.example] }\n`;
  const list = (indexes: number[]) => `domains:\n${indexes.map(domain).join('')}state_dir: state\n`;
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => from + index);
  const base = list(range(0, 300));
  const edits: [string, string][] = [
    [
      'one changed near the front, one added at the end',
      list(range(0, 301)).replace('[mx.d1.example]', '[mx.d1.example, mx2.d1.example]'),
    ],
    ['two hundred added in the middle', list([...range(0, 150), ...range(1000, 1200), ...range(150, 300)])],
    ['two hundred removed from the middle', list([...range(0, 50), ...range(250, 300)])],
    ['the first moved to the end', list([...range(1, 300), 0])],
    ['the last moved to the front', list([299, ...range(0, 299)])],
    ['every other one removed', list(range(0, 300).filter((index) => index % 2 === 0))],
    ['reversed', list(range(0, 300).reverse())],
    ['a far one written again near the front', list([0, 1, 250, ...range(2, 300)])],
    ['a far one written again in another spelling', list(range(0, 300)).replace('  d2.example:', '  D250.EXAMPLE.:')],
  ];
  const start = loaded(loadConfigText(base, PATH, {}));
  const served = new PolicySet(start.config.domains);
  for (const [name, text] of edits) {
    assert.notEqual(text, base, name);
    const reloaded = loadConfigText(text, PATH, {}, start.reuse);
    const fromScratch = loadConfigText(text, PATH, {});
    assert.deepEqual(answer(reloaded), answer(fromScratch), name);
    if (!reloaded.ok || !fromScratch.ok) continue;
    // The served set made from the one served, and what a reload reports and records from it, are those made from scratch.
    const next = new PolicySet(reloaded.config.domains, served);
    const built = new PolicySet(fromScratch.config.domains);
    assert.deepEqual([...next.policies], [...built.policies], name);
    assert.deepEqual(diffPolicySets(served, next), diffPolicySets(served, built), name);
    // A reload looks at changedSince alone: it holds every policy added or changed (a domain re-validated may be there unchanged).
    const looked = new Set([...next.changedSince(served)].map((policy) => policy.host));
    const changed = [...built.policies].filter((policy) => served.forHost(policy.host)?.id !== policy.id);
    assert.deepEqual(
      changed.filter((policy) => !looked.has(policy.host)),
      [],
      name,
    );
    assert.deepEqual(next.removedSince(served), built.removedSince(served), name);
  }
});
