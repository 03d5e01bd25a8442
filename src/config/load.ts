import { readFile } from 'node:fs/promises';
import jsYaml from 'js-yaml';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';
import type { z } from 'zod';
import { normaliseDomainName } from '../policy/domain-name.js';
import { configSchema, type Config } from './schema.js';

export type ConfigLoadResult = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[] };

/** RFC 8461 §3.2 suggests weeks; an enforced policy cached for less than a day gives little protection. */
const SHORT_ENFORCE_MAX_AGE = 86_400;

/**
 * Reads and validates a config file. Every problem comes back at once as one line
 * `file:line:column field.path: what is wrong and what is allowed`.
 */
export async function loadConfigFile(path: string): Promise<ConfigLoadResult> {
  const read = await readConfigText(path);
  return read.ok ? loadConfigText(read.text, path) : { ok: false, errors: [read.problem] };
}

export async function readConfigText(path: string): Promise<{ ok: true; text: string } | { ok: false; problem: string }> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    return { ok: false, problem: `${path}: cannot read the config file: ${why}` };
  }
}

/** Validates config text read from `path`; relative paths in it are resolved against the file's folder. */
export function loadConfigText(text: string, path: string): ConfigLoadResult {
  const result = parseConfigText(text, path);
  if (result.ok) resolvePaths(result.config, dirname(resolve(path)));
  return result;
}

/** Relative paths in the file are relative to the file's own folder, wherever the service is started from. */
function resolvePaths(config: Config, base: string): void {
  config.stateDir = resolve(base, config.stateDir);
  if (config.providersFile !== undefined) config.providersFile = resolve(base, config.providersFile);
  if (config.tls.source === 'acme' && config.tls.acme.ca_bundle) {
    config.tls.acme.ca_bundle = resolve(base, config.tls.acme.ca_bundle);
  }
  if (config.tls.source === 'files') {
    for (const pair of config.tls.certificates) {
      pair.cert = resolve(base, pair.cert);
      pair.key = resolve(base, pair.key);
    }
  }
}

export function parseConfigText(text: string, displayPath: string): ConfigLoadResult {
  // A valid file is read with js-yaml, about fifteen times faster than the yaml library on a
  // 10 000-domain file (40 ms against 600 ms, most of a reload). Only a file with problems, or
  // warnings to locate, is parsed again with the yaml library, whose nodes carry positions.
  const raw = loadWithoutPositions(text);
  if (raw !== undefined) {
    const parsed = configSchema.safeParse(raw);
    if (parsed.success && !hasShortEnforceMaxAge(parsed.data)) return { ok: true, config: parsed.data, warnings: [] };
  }
  return parseWithPositions(text, displayPath);
}

/** The file's data, or undefined when js-yaml rejects it (syntax, duplicate keys): the located parse explains why. */
function loadWithoutPositions(text: string): unknown {
  try {
    // CORE_SCHEMA is YAML 1.2's, as in the yaml library: `no` and `on` stay strings, no timestamps.
    return jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA }) ?? {};
  } catch {
    return undefined;
  }
}

function parseWithPositions(text: string, displayPath: string): ConfigLoadResult {
  const lineCounter = new LineCounter();
  // The YAML library's own duplicate-key check is quadratic in the size of a mapping, which a
  // 10 000-domain file turns into seconds; findDuplicateKeys does the same in one pass.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${displayPath}:${line}:${col}`;
  };
  const inFileOrder = (problems: Located[]) =>
    problems.sort((a, b) => a.offset - b.offset).map(({ offset, message }) => `${at(offset)} ${message}`);

  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: inFileOrder(doc.errors.map((error) => ({ offset: error.pos[0], message: firstLine(error.message) }))),
    };
  }
  const duplicates = findDuplicateKeys(doc).map(({ path, offset }) => ({
    offset,
    message: `${formatPath(path)}: duplicate key; each key may appear only once in a mapping`,
  }));
  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success || duplicates.length > 0) {
    const locator = new NodeLocator(doc);
    const located = parsed.success ? [] : parsed.error.issues.flatMap((issue) => describeIssue(issue, locator));
    return { ok: false, errors: inFileOrder([...duplicates, ...located]) };
  }
  return { ok: true, config: parsed.data, warnings: shortEnforceWarnings(parsed.data, raw, new NodeLocator(doc), at) };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

type PathSegment = PropertyKey;

function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : `${out === '' ? '' : '.'}${String(segment)}`;
  }
  return out === '' ? '(top level)' : out;
}

interface Located {
  offset: number;
  message: string;
}

function describeIssue(issue: z.core.$ZodIssue, locator: NodeLocator): Located[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = [...issue.path, key];
      return { offset: locator.offsetOf(path, 'key'), message: `${formatPath(path)}: unknown key; ${issue.message}` };
    });
  }
  const where = (issue as { params?: { at?: string } }).params?.at === 'key' ? 'key' : 'value';
  return [{ offset: locator.offsetOf(issue.path, where), message: `${formatPath(issue.path)}: ${issue.message}` }];
}

/** Finds the source position of a field path, or of its nearest ancestor when the field is missing. */
class NodeLocator {
  private readonly pairsByMap = new Map<unknown, Map<string, Pair>>();
  constructor(private readonly doc: Document) {}

  offsetOf(path: readonly PathSegment[], where: 'key' | 'value'): number {
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (const [index, segment] of path.entries()) {
      const last = index === path.length - 1;
      if (isMap(node)) {
        const pair = this.pairsOf(node).get(String(segment));
        if (!pair) return offset;
        const keyStart = rangeStart(pair.key) ?? offset;
        if (last && where === 'key') return keyStart;
        node = pair.value;
        offset = rangeStart(node) ?? keyStart;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        node = node.items[segment];
        offset = rangeStart(node) ?? offset;
      } else {
        return offset;
      }
    }
    return offset;
  }

  private pairsOf(map: { items: Pair[] }): Map<string, Pair> {
    let pairs = this.pairsByMap.get(map);
    if (!pairs) {
      pairs = new Map();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (!pairs.has(key)) pairs.set(key, pair);
      }
      this.pairsByMap.set(map, pairs);
    }
    return pairs;
  }
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

function findDuplicateKeys(doc: Document): { path: PathSegment[]; offset: number }[] {
  const found: { path: PathSegment[]; offset: number }[] = [];
  visit(doc, {
    Map(_, map, ancestry) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) found.push({ path: [...pathOf([...ancestry, map]), key], offset: rangeStart(pair.key) ?? 0 });
        seen.add(key);
      }
    },
  });
  return found;
}

function pathOf(ancestry: readonly unknown[]): PathSegment[] {
  const path: PathSegment[] = [];
  for (let i = 0; i < ancestry.length; i++) {
    const item = ancestry[i];
    if (isPair(item)) path.push(isScalar(item.key) ? String(item.key.value) : String(item.key));
    else if (isSeq(item)) {
      const child = ancestry[i + 1];
      if (child !== undefined) path.push(item.items.indexOf(child as never));
    }
  }
  return path;
}

const isShortEnforce = (domain: Config['domains'][number]) =>
  domain.policy.mode === 'enforce' && domain.policy.maxAge < SHORT_ENFORCE_MAX_AGE;

function hasShortEnforceMaxAge(config: Config): boolean {
  return config.domains.some(isShortEnforce);
}

function shortEnforceWarnings(config: Config, raw: unknown, locator: NodeLocator, at: (offset: number) => string): string[] {
  const rawDomains = (raw as { domains?: Record<string, { max_age?: unknown } | null> }).domains ?? {};
  const byName = new Map(config.domains.map((domain) => [domain.name, domain]));
  const warnings: string[] = [];
  for (const [key, settings] of Object.entries(rawDomains)) {
    const name = normaliseDomainName(key);
    const domain = name.ok ? byName.get(name.name) : undefined;
    if (!domain || !isShortEnforce(domain)) continue;
    const path = settings?.max_age === undefined ? ['defaults', 'max_age'] : ['domains', key, 'max_age'];
    warnings.push(
      `${at(locator.offsetOf(path, 'value'))} ${formatPath(path)}: max_age ${domain.policy.maxAge} is below ${SHORT_ENFORCE_MAX_AGE} (one day) ` +
        `for enforced domain ${domain.name}; senders will re-fetch often and an attacker who blocks the fetch can strip TLS sooner`,
    );
  }
  return warnings;
}
