import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import jsYaml from 'js-yaml';
import type { Problem } from './issues.js';
import { printable } from '../text/printable.js';
import { formatPath, quote, QUOTE_LIMIT } from '../text/quote.js';

/**
 * YAML text → data, with the position of every key and value, and nothing that can escape or
 * explode: syntax errors, unknown aliases, alias bombs and deep nesting all come back as located
 * problems. One parser (js-yaml, CORE schema) for every file the service reads; its event listener
 * gives the positions when a problem needs them.
 */

/**
 * Nodes that aliases may add in all: reusing a settings block for 10 000 domains adds under 100 000,
 * a "billion laughs" file far more. Data past the parser (validation, messages) stays linear in this.
 */
export const MAX_ALIAS_EXPANSION = 100_000;
/** Problems listed for one file; a broken list of thousands of entries needs only the first to be fixed. */
export const MAX_REPORTED_PROBLEMS = 100;
/** Nesting deeper than any config needs (about six levels), well inside js-yaml's recursion limits. */
export const MAX_NESTING = 64;

/** A file this large is a mistake (a log, an image): 32 MiB of config holds several hundred thousand domains. */
export const MAX_YAML_FILE_BYTES = 32 * 1024 * 1024;

/** One problem, at an offset in the text; turned into `file:line:column ...` when reported. */
export interface Located {
  offset: number;
  message: string;
}

export type YamlParse = { ok: true; document: YamlDocument } | { ok: false; errors: string[] };

/**
 * A YAML file's text, or why it cannot be had (`path: cannot read WHAT: why`); never throws,
 * never waits on a named pipe, never reads more than MAX_YAML_FILE_BYTES.
 */
export async function readYamlFile(
  path: string,
  what: string,
): Promise<{ ok: true; text: string } | { ok: false; problem: string }> {
  const problem = (why: string) => ({ ok: false as const, problem: `${path}: cannot read ${what}: ${why}` });
  let file;
  try {
    // O_NONBLOCK: opening a named pipe must not wait for a writer.
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return problem(describeReadError(error));
  }
  try {
    const info = await file.stat();
    if (info.isDirectory()) return problem('it is a directory; give the path of the YAML file in it');
    if (!info.isFile()) return problem('it is not a regular file');
    const chunks: Buffer[] = [];
    let size = 0;
    // Read up to one byte past the limit: the file may have grown since stat().
    for (;;) {
      const { buffer, bytesRead } = await file.read({ buffer: Buffer.alloc(Math.min(1 << 20, MAX_YAML_FILE_BYTES + 1 - size)) });
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      size += bytesRead;
      if (size > MAX_YAML_FILE_BYTES) {
        return problem(
          `it is larger than ${MAX_YAML_FILE_BYTES / 1024 / 1024} MiB, which no config or provider list needs (is this the right file?)`,
        );
      }
    }
    return { ok: true, text: Buffer.concat(chunks).toString('utf8') };
  } catch (error) {
    return problem(describeReadError(error));
  } finally {
    await file.close().catch(() => undefined);
  }
}

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory; give the path of the YAML file in it';
  return printable(error instanceof Error ? error.message : String(error), 160);
}

/** Parses YAML text; never throws. Errors are complete report lines (`file:line:column message`). */
export function parseYaml(text: string, displayPath: string): YamlParse {
  // js-yaml drops a leading BOM itself, which would shift every position by one.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // The common case, read at js-yaml's own speed: without an anchor no alias can expand, and a
  // valid file needs no positions (they are composed when a problem or warning asks for one).
  if (!source.includes('&')) {
    try {
      const data = jsYaml.load(source, { schema: jsYaml.CORE_SCHEMA, maxDepth: MAX_NESTING } as jsYaml.LoadOptions);
      return { ok: true, document: new YamlDocument(source, displayPath, data) };
    } catch {
      // Composed again below, with the positions that say where and in which field.
    }
  }
  const first = compose(source, false);
  // js-yaml stops at the first key written twice; a second pass keeps the last value of each
  // (as JSON.parse does) and the node table finds them all, with their paths.
  const composed = 'error' in first && first.duplicateKey ? compose(source, true) : first;
  if (!('error' in composed)) return { ok: true, document: new YamlDocument(source, displayPath, composed.data, composed.nodes) };
  const located = describeFailure(composed.error, source, composed.nodes);
  const document = new YamlDocument(source, displayPath, undefined, composed.nodes);
  return { ok: false, errors: located ? document.report([located]) : [`${displayPath}: ${fileLevelFailure(composed.error)}`] };
}

type Composed = { nodes: NodeTable; data: unknown } | { nodes: NodeTable; error: unknown; duplicateKey: boolean };

/** js-yaml with the node table listening: positions, alias sizes (a bomb stops here), the path of a failure. */
function compose(source: string, allowDuplicateKeys: boolean): Composed {
  const nodes = new NodeTable(source, allowDuplicateKeys);
  try {
    const data = jsYaml.load(source, {
      schema: jsYaml.CORE_SCHEMA,
      json: allowDuplicateKeys,
      listener: (event, state) => (event === 'open' ? nodes.open(state) : nodes.close(state)),
      maxDepth: MAX_NESTING,
    } as jsYaml.LoadOptions);
    return { nodes, data };
  } catch (error) {
    const duplicateKey = error instanceof jsYaml.YAMLException && error.reason === 'duplicated mapping key';
    return { nodes, error, duplicateKey };
  }
}

export class YamlDocument {
  private lineStarts: number[] | undefined;

  /** `nodes` is composed on first use when the text was read without positions. */
  constructor(
    private readonly text: string,
    private readonly displayPath: string,
    readonly data: unknown,
    private composedNodes?: NodeTable,
  ) {}

  /** Read without positions means read without a key written twice: js-yaml would have stopped. */
  private get nodes(): NodeTable {
    this.composedNodes ??= compose(this.text, false).nodes;
    return this.composedNodes;
  }

  /** Where the key or value at `path` is written, or the nearest enclosing node that is. */
  offsetOf(path: readonly PropertyKey[], where: 'key' | 'value' = 'value'): number {
    const { nodes } = this;
    let node = nodes.root;
    let offset = node === NONE ? 0 : nodes.start[node]!;
    for (const [index, segment] of path.entries()) {
      if (node === NONE) return offset;
      if (nodes.kind[node] === MAPPING) {
        const entry = nodes.entries(node).get(String(segment));
        if (!entry) return offset;
        if (index === path.length - 1 && where === 'key') return nodes.start[entry.key]!;
        node = entry.value;
        offset = nodes.start[node === NONE ? entry.key : node]!;
      } else if (nodes.kind[node] === SEQUENCE && typeof segment === 'number' && nodes.isAligned(node)) {
        node = nodes.childAt(node, segment);
        if (node === NONE) return offset;
        offset = nodes.start[node]!;
      } else {
        return offset;
      }
    }
    return offset;
  }

  /** Every key written a second time in one mapping, with its path. */
  duplicateKeys(): { path: PropertyKey[]; offset: number }[] {
    if (!this.composedNodes?.hasDuplicateKeys) return [];
    const { nodes } = this;
    if (nodes.root === NONE) return [];
    const found: { path: PropertyKey[]; offset: number }[] = [];
    // Iterative, and never through an alias: the walk is as long as the text, not as the data.
    const pending: { node: number; path: PropertyKey[] }[] = [{ node: nodes.root, path: [] }];
    for (let item = pending.pop(); item; item = pending.pop()) {
      const { node, path } = item;
      if (nodes.kind[node] === MAPPING) {
        const seen = new Set<string>();
        for (const { key, value } of nodes.pairs(node)) {
          const name = keyText(nodes.results[key]);
          if (seen.has(name)) found.push({ path: [...path, name], offset: nodes.start[key]! });
          seen.add(name);
          if (value !== NONE) pending.push({ node: value, path: [...path, name] });
        }
      } else if (nodes.kind[node] === SEQUENCE && nodes.isAligned(node)) {
        let index = 0;
        for (let child = nodes.firstChild[node]!; child !== NONE; child = nodes.nextSibling[child]!) {
          pending.push({ node: child, path: [...path, index++] });
        }
      }
    }
    return found;
  }

  /** `file:line:column` of an offset; columns count UTF-16 units from 1. */
  at(offset: number): string {
    this.lineStarts ??= lineStartsOf(this.text);
    const line = lineIndex(this.lineStarts, offset);
    return `${this.displayPath}:${line + 1}:${offset - this.lineStarts[line]! + 1}`;
  }

  /** Problems found in the data (by validation) and in the text, as report lines `file:line:column field.path: message`. */
  reportProblems(problems: readonly Problem[], located: readonly Located[] = []): string[] {
    return this.report([
      ...located,
      ...problems.map(({ path, at, message }) => ({
        offset: this.offsetOf(path, at),
        message: `${formatPath(path)}: ${message}`,
      })),
    ]);
  }

  /** Problems as report lines, in file order; the first MAX_REPORTED_PROBLEMS of them. */
  report(problems: readonly Located[]): string[] {
    const lines = [...problems]
      .sort((a, b) => a.offset - b.offset)
      .slice(0, MAX_REPORTED_PROBLEMS)
      .map(({ offset, message }) => `${this.at(offset)} ${message}`);
    const more = problems.length - lines.length;
    return more > 0 ? [...lines, `${this.displayPath}: ${more} more problems after these are not listed`] : lines;
  }
}

const NONE = -1;
const EMPTY = 0;
const SCALAR = 1;
const ALIAS = 2;
const MAPPING = 3;
const SEQUENCE = 4;

/** A problem the node table finds while js-yaml composes (a bomb, a cycle); thrown through js-yaml to stop it at once. */
class YamlProblem extends Error {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {
    super(problem);
  }
}

interface Entry {
  key: number;
  value: number;
}

/**
 * The nodes js-yaml composes, from its open and close events, in columns of numbers: a load sees
 * hundreds of thousands of nodes, and an object per node made the garbage collector the largest
 * cost of a 100 000-domain load. Per node: where it starts, its kind, its size once aliases are
 * expanded (capped here, so a bomb stops early), and its children as a linked list. Mapping
 * entries are built only when a problem is located.
 */
class NodeTable {
  root = NONE;
  /** Nodes being composed, outermost first. */
  readonly stack: number[] = [];
  /** The composed value of each node: the object of a collection, the scalar of a key. */
  readonly results: unknown[] = [];
  /** Where composing began; the node's own text (anchor, tag, alias or content) starts at `start`. */
  opened = new Int32Array(1024);
  start = new Int32Array(1024);
  /** Where composing ended: after the content, sometimes after the blanks that follow it. */
  end = new Int32Array(1024);
  size = new Float64Array(1024);
  firstChild = new Int32Array(1024);
  lastChild = new Int32Array(1024);
  nextSibling = new Int32Array(1024);
  childCount = new Int32Array(1024);
  kind = new Uint8Array(1024);
  private count = 0;
  private readonly anchoredSizes = new Map<object, number>();
  private aliasExpansion = 0;
  private readonly entriesByNode = new Map<number, Map<string, Entry>>();

  /** @param hasDuplicateKeys whether js-yaml found a key written twice (in a first pass) */
  constructor(
    private readonly text: string,
    readonly hasDuplicateKeys: boolean,
  ) {}

  open(state: jsYaml.State): void {
    if (this.count === this.start.length) this.grow();
    const node = this.count++;
    this.opened[node] = state.position;
    this.firstChild[node] = this.lastChild[node] = this.nextSibling[node] = NONE;
    this.childCount[node] = 0;
    this.size[node] = 1;
    this.stack.push(node);
  }

  close(state: jsYaml.State): void {
    const node = this.stack.pop()!;
    const start = contentStart(this.text, this.opened[node]!, state.position);
    this.start[node] = start;
    this.end[node] = state.position;
    this.results[node] = state.result;
    const kind = this.text.charCodeAt(start) === 0x2a /* * */ ? ALIAS : kindOf(state.kind);
    const only = this.childCount[node] === 1 ? this.firstChild[node]! : NONE;
    // js-yaml composes a scalar (or alias) in a block as a would-be key first: two events, one node.
    const finished = kind < MAPPING && only !== NONE && this.start[only] === start ? only : this.finish(node, kind, state);
    const parent = this.stack[this.stack.length - 1];
    if (parent === undefined) this.root = finished;
    else this.append(parent, finished);
  }

  private finish(node: number, kind: number, state: jsYaml.State): number {
    this.kind[node] = kind;
    if (kind === ALIAS) {
      this.size[node] = this.aliasSize(node);
    } else if (kind === MAPPING || kind === SEQUENCE) {
      let size = 1;
      for (let child = this.firstChild[node]!; child !== NONE; child = this.nextSibling[child]!) size += this.size[child]!;
      this.size[node] = size;
      if ((state as { anchor?: string | null }).anchor != null) this.anchoredSizes.set(this.results[node] as object, size);
    }
    if (kind !== MAPPING && kind !== SEQUENCE) this.firstChild[node] = this.lastChild[node] = NONE;
    return node;
  }

  /** An alias stands for its anchor's whole node; the total it adds is capped. */
  private aliasSize(node: number): number {
    const target = this.results[node];
    if (target === null || typeof target !== 'object') return 1;
    const size = this.anchoredSizes.get(target);
    const at = this.start[node]!;
    if (size === undefined) {
      throw new YamlProblem(
        at,
        `alias ${aliasName(this.text, at)} is inside the node its anchor names; an alias cannot contain itself`,
      );
    }
    this.aliasExpansion += size - 1;
    if (this.aliasExpansion > MAX_ALIAS_EXPANSION) {
      throw new YamlProblem(
        at,
        `aliases add more than ${MAX_ALIAS_EXPANSION.toLocaleString('en')} nodes in all (an alias bomb?); ` +
          'anchors and aliases are allowed, but not this many copies',
      );
    }
    return size;
  }

  private append(parent: number, child: number): void {
    if (this.lastChild[parent] === NONE) this.firstChild[parent] = child;
    else this.nextSibling[this.lastChild[parent]!] = child;
    this.lastChild[parent] = child;
    this.nextSibling[child] = NONE;
    this.childCount[parent]!++;
  }

  private grow(): void {
    const capacity = this.start.length * 2;
    const grown = <T extends Int32Array | Float64Array | Uint8Array>(column: T): T => {
      const larger = new (column.constructor as new (length: number) => T)(capacity);
      larger.set(column);
      return larger;
    };
    this.opened = grown(this.opened);
    this.start = grown(this.start);
    this.end = grown(this.end);
    this.size = grown(this.size);
    this.firstChild = grown(this.firstChild);
    this.lastChild = grown(this.lastChild);
    this.nextSibling = grown(this.nextSibling);
    this.childCount = grown(this.childCount);
    this.kind = grown(this.kind);
  }

  childAt(node: number, index: number): number {
    let child = this.firstChild[node]!;
    for (let i = 0; i < index && child !== NONE; i++) child = this.nextSibling[child]!;
    return child;
  }

  /** Whether a sequence's children are its items one to one (not so with `[a: b]` pairs or empty `-` items). */
  isAligned(node: number): boolean {
    return this.childCount[node] === (this.results[node] as unknown[]).length;
  }

  /**
   * A mapping's children as key-value pairs. A key is followed by `:` on its line; a key written
   * without a value (`a:` then the next key) has no value node, so a node after a key that is
   * itself followed by `:` is the next key.
   */
  pairs(node: number): Entry[] {
    const pairs: Entry[] = [];
    let key = NONE;
    for (let child = this.firstChild[node]!; child !== NONE; child = this.nextSibling[child]!) {
      if (key === NONE) key = child;
      else if (followedByColon(this.text, this.end[child]!)) {
        pairs.push({ key, value: NONE });
        key = child;
      } else {
        pairs.push({ key, value: child });
        key = NONE;
      }
    }
    if (key !== NONE) pairs.push({ key, value: NONE });
    return pairs;
  }

  /** A mapping's entries by key; for a key written twice, the last, as in the data. */
  entries(node: number): Map<string, Entry> {
    let entries = this.entriesByNode.get(node);
    if (!entries) {
      entries = new Map(this.pairs(node).map((pair) => [keyText(this.results[pair.key]), pair]));
      this.entriesByNode.set(node, entries);
    }
    return entries;
  }

  /**
   * The key or index of the child an unfinished collection is composing, read from the text: the
   * collection's kind is not known until it closes.
   */
  openSegment(node: number): PropertyKey | undefined {
    let start = contentStart(this.text, this.opened[node]!, this.text.length);
    // Past the node's anchor and tag (`&name`, `!tag`) to its content.
    while (this.text[start] === '&' || this.text[start] === '!') {
      const end = this.text.slice(start).search(/\s/);
      if (end === -1) return undefined;
      start = contentStart(this.text, start + end, this.text.length);
    }
    const first = this.text[start];
    if (first === '[' || (first === '-' && /\s/.test(this.text[start + 1] ?? ''))) return this.childCount[node];
    const firstChild = this.firstChild[node]!;
    if (first !== '{' && (firstChild === NONE || !followedByColon(this.text, this.end[firstChild]!))) return undefined;
    const last = this.pairs(node).at(-1);
    return last && last.value === NONE ? keyText(this.results[last.key]) : undefined;
  }
}

function kindOf(kind: string | null): number {
  return kind === 'scalar' ? SCALAR : kind === 'mapping' ? MAPPING : kind === 'sequence' ? SEQUENCE : EMPTY;
}

/** A key as js-yaml stores it in the object: the String() of the scalar. */
function keyText(result: unknown): string {
  return result !== null && typeof result === 'object' && !Array.isArray(result) ? '[object Object]' : String(result);
}

function followedByColon(text: string, position: number): boolean {
  let index = position;
  while (text[index] === ' ' || text[index] === '\t') index++;
  return text[index] === ':';
}

/** The first character of a node's own text after `open`: blanks, line breaks and comments are skipped. */
function contentStart(text: string, open: number, end: number): number {
  let index = open;
  while (index < end) {
    const character = text.charCodeAt(index);
    if (character === 0x20 || character === 0x09 || character === 0x0d || character === 0x0a) index++;
    else if (character === 0x23 /* # */) while (index < end && text.charCodeAt(index) !== 0x0a) index++;
    else return index;
  }
  // Nothing written (`key:` with no value): the place it would go.
  return open;
}

function aliasName(text: string, star: number): string {
  const match = /^\*[^\s,[\]{}]*/.exec(text.slice(star, star + 1024));
  return printable(match?.[0] ?? '*', QUOTE_LIMIT);
}

/** A syntax error, or a problem found while composing, at its place in the text; undefined when it has none. */
function describeFailure(error: unknown, text: string, nodes: NodeTable): Located | undefined {
  // A problem found at a node's close: that node is already off the stack, its ancestors are all on it.
  if (error instanceof YamlProblem) return { offset: error.offset, message: withPath(nodes, nodes.stack, error.problem) };
  if (!(error instanceof jsYaml.YAMLException) || !error.mark) return undefined;
  // A syntax error: the last open node is the one being read, its ancestors are before it.
  const ancestors = nodes.stack.slice(0, -1);
  const reason = error.reason ?? error.message;
  const offset = error.mark.position;
  const unknownAlias = /^unidentified alias "(.*)"$/s.exec(reason);
  if (unknownAlias) {
    const name = unknownAlias[1]!;
    const star = offset - name.length - 1;
    // The most common mistake with MTA-STS: `mx: [*.mail.protection.outlook.com]` unquoted.
    const message = name.startsWith('.')
      ? `an unquoted "*" starts a YAML alias, and there is no anchor &${printable(name, QUOTE_LIMIT)}; quote wildcard names: ${quote(`*${name}`)}`
      : `alias ${aliasName(text, star)} names no anchor above it (anchors are written &name); to write a "*" itself, quote the value`;
    return { offset: star, message: withPath(nodes, ancestors, message) };
  }
  // js-yaml marks the end of a node with an unknown tag; the tag itself, as written, is more useful.
  const unknownTag = /^unknown tag !<(.+)>$/s.exec(reason);
  const tagAt = unknownTag ? text.lastIndexOf(unknownTag[1]!, offset) : -1;
  const at = tagAt !== -1 && !text.slice(tagAt, offset).includes('\n') ? tagAt : offset;
  return { offset: at, message: withPath(nodes, ancestors, rephrase(reason)) };
}

/** js-yaml's wording, made actionable where a config author would not know what to do; input in it is cut and escaped. */
function rephrase(reason: string): string {
  const depth = /^nesting exceeded maxDepth \((\d+)\)$/.exec(reason);
  if (depth) return `nested more than ${depth[1]} levels deep; a config needs about six`;
  if (reason === 'null byte is not allowed in input') return 'a NUL byte; a config file is text (is this the right file?)';
  if (reason === 'tab characters must not be used in indentation') return 'a tab in the indentation; YAML indents with spaces';
  if (reason.startsWith('unknown tag !<'))
    return `${printable(reason, 120)}; this file uses no tags: remove the "!" or quote the value`;
  return printable(reason, 160);
}

/** What went wrong when js-yaml gave no position; still one line, without a stack trace. */
function fileLevelFailure(error: unknown): string {
  if (error instanceof jsYaml.YAMLException && /single document/.test(error.reason ?? '')) {
    return 'holds more than one YAML document ("---" separates them); a config file is one document';
  }
  if (error instanceof RangeError) return `nested too deeply to read (${printable(error.message, QUOTE_LIMIT)})`;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `cannot be read as YAML: ${printable(message, 160)}`;
}

/**
 * `domains.example.com.mx[1]: message` when the open ancestors of the failing node tell its path;
 * the message alone otherwise (an error in a key, or in the first node of the file).
 */
function withPath(nodes: NodeTable, ancestors: readonly number[], message: string): string {
  const path: PropertyKey[] = [];
  for (const node of ancestors) {
    const segment = nodes.openSegment(node);
    if (segment === undefined) break;
    path.push(segment);
  }
  return path.length === 0 ? message : `${formatPath(path)}: ${message}`;
}

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let index = text.indexOf('\n'); index !== -1; index = text.indexOf('\n', index + 1)) starts.push(index + 1);
  return starts;
}

function lineIndex(starts: readonly number[], offset: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle]! <= offset) low = middle;
    else high = middle - 1;
  }
  return low;
}
