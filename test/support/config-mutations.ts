import { parseConfigText } from '../../src/config/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { retirementPolicy } from '../../src/policy/retirement.js';
import { LOOPBACK_LISTEN } from './service.js';
import { aliasBomb } from './yaml-inputs.js';

// Random mutations of a valid config for the property tests of "no config kills the service"
// (config-fuzz*.test.ts). Set MTA_STS_FUZZ_SEED to replay a run; every failure names its seed.

export const SEED = Number(process.env.MTA_STS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
export const HOST = 'mta-sts.example.com';

/** The part that is mutated: everything the policies come from. */
export const BASE = `defaults:
  mode: testing
  max_age: 604800
  tlsrpt: { rua: ["mailto:tls-reports@example.com"] }
domains:
  example.com:
    mode: enforce
    mx:
      - mail.example.com
      - "*.mail.protection.outlook.com"
    max_age: 1209600
  example.org: { mx: [mx1.example.org, mx2.example.org] }
  example.net: { mode: none }
trust_proxy: [10.0.0.0/8]
`;
/** Kept as it is, so that a mutation never moves the listeners or silences the log the test reads. */
export const SUFFIX = `log: { level: info }\n${LOOPBACK_LISTEN}`;

/** mulberry32: small, fast, and the same sequence for the same seed on every Node. */
export function randomSource(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (below: number) => Math.floor(next() * below);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)]! };
}
export type Random = ReturnType<typeof randomSource>;

const TOKENS = [
  '*',
  '*.',
  '&',
  '&a ',
  '*a',
  '!',
  '!!str ',
  '!!binary ',
  '!enforce ',
  '\t',
  '\0',
  '\ufeff',
  '\r',
  '\n',
  '  ',
  '[',
  ']',
  '{',
  '}',
  ':',
  ': ',
  ',',
  '#',
  '"',
  "'",
  '|',
  '>',
  '- ',
  '? ',
  '%',
  '@',
  '`',
  '---\n',
  '...\n',
  '<<: ',
  '~',
  'null',
  '0x1F',
  '1e999',
  '.inf',
  '-0',
  '\u0085',
  '\u2028',
  '\u202e',
  '\ud800',
  'é',
  '192.0.2.1',
  '[::1]',
  'mta-sts.',
];
const VALUES = ['enforce', 'testing', 'none', 'enforced', '0', '31557600', '31557601', '-1', '"*.mail.example.com"', '[]', '{}'];

/** One change to the text; about a third keep it valid, so both outcomes of a reload are exercised. */
const MUTATIONS: ((text: string, random: Random) => string)[] = [
  (text, random) => text.slice(0, random.int(text.length)),
  (text, random) => insertAt(text, random, String.fromCharCode(random.int(0x3000))),
  (text, random) => insertAt(text, random, random.pick(TOKENS)),
  (text, random) => {
    const depth = 10 + random.int(5_000);
    return insertAt(
      text,
      random,
      random.next() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{a: '.repeat(depth)}${'}'.repeat(depth)}`,
    );
  },
  // Huge next to any name or message (a DNS name is at most 253 bytes); parsed twice per edit, so not larger.
  (text, random) => insertAt(text, random, 'x'.repeat(10_000 + random.int(90_000))),
  (text, random) => withLines(text, (lines) => lines.splice(random.int(lines.length), 0, random.pick(lines))),
  (text, random) => withLines(text, (lines) => lines.splice(random.int(lines.length), 1)),
  (text, random) =>
    withLines(text, (lines) => lines.splice(random.int(lines.length), 0, lines.splice(random.int(lines.length), 1)[0]!)),
  (text) => aliasBomb('bomb') + text,
  (text) => text.replace('"*.mail.protection.outlook.com"', '*.mail.protection.outlook.com'),
  // Valid edits: another mode, max_age or mx list.
  (text, random) => text.replace(/mode: \w+/, `mode: ${random.pick(['enforce', 'testing', 'none'])}`),
  (text, random) => text.replace(/max_age: \d+/, `max_age: ${random.int(31_557_600)}`),
  (text, random) => text.replace('- mail.example.com', `- mx${random.int(100)}.example.com`),
  (text, random) => text.replace(/mode: \w+|max_age: \d+/, (field) => `${field.split(':')[0]}: ${random.pick(VALUES)}`),
];

function insertAt(text: string, random: Random, insert: string): string {
  const at = random.int(text.length + 1);
  return text.slice(0, at) + insert + text.slice(at);
}

function withLines(text: string, change: (lines: string[]) => void): string {
  const lines = text.split('\n');
  change(lines);
  return lines.join('\n');
}

/** One to three mutations of the base; one file in eight also gets a raw byte flipped (invalid UTF-8 included). */
export function mutatedFile(random: Random): Buffer {
  let text = BASE;
  for (let count = 1 + random.int(3); count > 0; count--) text = random.pick(MUTATIONS)(text, random);
  const bytes = Buffer.from(text + SUFFIX, 'utf8');
  if (random.next() < 0.125) bytes[random.int(BASE.length)] ^= 1 << random.int(8);
  return bytes;
}

/**
 * The policy body the service should serve for HOST after loading `bytes`, or undefined when it
 * should keep the last one. HOST's domain served enforce at start, so a file without it retires
 * it (RFC 8461 §8.3): mode none, for far longer than a run.
 */
export function expectedAfter(bytes: Buffer, path: string): { served: string } | undefined {
  const loaded = parseConfigText(bytes.toString('utf8'), path);
  if (!loaded.ok) return undefined;
  const domain = HOST.slice('mta-sts.'.length);
  const configured = loaded.config.domains;
  const retired = configured.some((policy) => policy.name === domain) ? [] : [retirementPolicy(domain)];
  return { served: new PolicySet([...configured, ...retired]).forHost(HOST)!.body };
}
