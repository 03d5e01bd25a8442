import assert from 'node:assert/strict';
import { mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { readYamlFile } from '../src/config/yaml-document.js';

// The limits of config checking, each pinned at its edge: how large a file may be, how many
// problems one file lists, how many nodes aliases may add, and how far a mistyped key may be from the key it is taken for.

const errorsOf = (yaml: string): string[] => {
  const result = parseConfigText(yaml, 'mta-sts.yaml');
  return result.ok ? [] : result.errors;
};

const ONE_DOMAIN = 'domains: { example.com: { mode: none } }\n';
const TOP_LEVEL_KEYS =
  'defaults, domains, listen, tls, state_dir, trust_proxy, log, admin, providers_file, providers, reverse_dns, statistics, reports, retire_removed_domains, health';

test('a file lists its first 100 problems, then how many more there are', () => {
  /** `count` domains in mode enforce without an mx: one problem each, on lines 2 onwards. */
  const withProblems = (count: number) =>
    'domains:\n' + Array.from({ length: count }, (_, index) => `  d${index}.example: { mode: enforce }\n`).join('');
  const problem = (index: number) =>
    `mta-sts.yaml:${index + 2}:3 domains.d${index}.example: mode enforce needs at least one mx pattern (mx: [mail.d${index}.example]); only mode none may leave it out`;
  const first100 = Array.from({ length: 100 }, (_, index) => problem(index));
  assert.deepEqual(errorsOf(withProblems(100)), first100);
  assert.deepEqual(errorsOf(withProblems(101)), [...first100, 'mta-sts.yaml: 1 more problems after these are not listed']);
  assert.deepEqual(errorsOf(withProblems(250)), [...first100, 'mta-sts.yaml: 150 more problems after these are not listed']);
});

test('aliases may add 100 000 nodes in all, and not one more', () => {
  // An anchored list of 1 000 items: each alias of it adds 1 000 nodes to the data.
  const anchored = `x: &a [${Array(1000).fill('1').join(', ')}]\n`;
  const aliases = (count: number) => `y: [${Array(count).fill('*a').join(', ')}]\n`;
  assert.deepEqual(errorsOf(ONE_DOMAIN + anchored + aliases(100)), [
    `mta-sts.yaml:2:1 x: unknown key; allowed: ${TOP_LEVEL_KEYS}`,
    `mta-sts.yaml:3:1 y: unknown key; allowed: ${TOP_LEVEL_KEYS}`,
  ]);
  // The 101st alias is where the total passes the cap: the first is at column 5, each "*a, " 4 columns on.
  assert.deepEqual(errorsOf(ONE_DOMAIN + anchored + aliases(101)), [
    `mta-sts.yaml:3:${5 + 4 * 100} y[100]: aliases add more than 100,000 nodes in all (an alias bomb?); anchors and aliases are allowed, but not this many copies`,
  ]);
});

test('a mistyped key is taken for an allowed one a few edits away: 1 for short keys, 2 from 6 characters, at most 3', () => {
  const unknownKey = (yaml: string) => errorsOf(ONE_DOMAIN + yaml);
  const cases: [yaml: string, problem: string][] = [
    // Five characters or fewer: one edit.
    ['admin: { pxrt: 1 }\n', 'mta-sts.yaml:2:10 admin.pxrt: unknown key; did you mean port?'],
    ['admin: { pxxt: 1 }\n', 'mta-sts.yaml:2:10 admin.pxxt: unknown key; allowed: enabled, address, port, token'],
    // Two neighbours swapped is one edit.
    ['admin: { prot: 1 }\n', 'mta-sts.yaml:2:10 admin.prot: unknown key; did you mean port?'],
    ['admin: { tkoen: x }\n', 'mta-sts.yaml:2:10 admin.tkoen: unknown key; did you mean token?'],
    // Six to eight characters: two edits.
    ['lisxxn: {}\n', 'mta-sts.yaml:2:1 lisxxn: unknown key; did you mean listen?'],
    ['lxxxen: {}\n', `mta-sts.yaml:2:1 lxxxen: unknown key; allowed: ${TOP_LEVEL_KEYS}`],
    // Nine characters or more: three edits, however long the key.
    ['revxxxe_dns: {}\n', 'mta-sts.yaml:2:1 revxxxe_dns: unknown key; did you mean reverse_dns?'],
    ['rxxxxse_dns: {}\n', `mta-sts.yaml:2:1 rxxxxse_dns: unknown key; allowed: ${TOP_LEVEL_KEYS}`],
    ['retire_removed_doxxxxx: true\n', `mta-sts.yaml:2:1 retire_removed_doxxxxx: unknown key; allowed: ${TOP_LEVEL_KEYS}`],
    [
      'retire_removed_doxxins: true\n',
      'mta-sts.yaml:2:1 retire_removed_doxxins: unknown key; did you mean retire_removed_domains?',
    ],
    // As near to two keys: the one the schema lists first (listen: address, https, http).
    ['listen: { httpx: 1 }\n', 'mta-sts.yaml:2:11 listen.httpx: unknown key; did you mean https?'],
    ['listen: { htt: 1 }\n', 'mta-sts.yaml:2:11 listen.htt: unknown key; did you mean http?'],
  ];
  for (const [yaml, problem] of cases) assert.deepEqual(unknownKey(yaml), [problem], yaml);
  // The key it is taken for is written too: that key's own problem is still reported.
  assert.deepEqual(unknownKey('listen: { https: 70000, htps: 2 }\n'), [
    'mta-sts.yaml:2:18 listen.https: 70000 is not a port number (0 to 65535)',
    'mta-sts.yaml:2:25 listen.htps: unknown key; did you mean https?',
  ]);
});

test('a YAML file may be 32 MiB, not a byte more', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mta-sts-config-limits-'));
  /** A sparse file of `size` NUL bytes: nothing on disk. */
  const sparse = async (name: string, size: number) => {
    const path = join(dir, name);
    const file = await open(path, 'w');
    await file.truncate(size);
    await file.close();
    return path;
  };
  const limit = 32 * 1024 * 1024;
  const atLimit = await readYamlFile(await sparse('at-limit.yaml', limit), 'the config file');
  assert.deepEqual(atLimit.ok && atLimit.text.length, limit);
  const overLimit = await sparse('over-limit.yaml', limit + 1);
  assert.deepEqual(await readYamlFile(overLimit, 'the config file'), {
    ok: false,
    problem: `${overLimit}: cannot read the config file: it is larger than 32 MiB, which no config or provider list needs (is this the right file?)`,
  });
});
