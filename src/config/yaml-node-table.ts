import jsYaml from 'js-yaml';
import { printable } from '../text/printable.js';
import { QUOTE_LIMIT } from '../text/quote.js';

/**
 * The node table behind YamlDocument: what js-yaml composes, node by node, from its listener
 * events, with the checks that must stop a load early (alias bombs, cycles).
 */

/**
 * Nodes that aliases may add in all: reusing a settings block for 10 000 domains adds under 100 000,
 * a "billion laughs" file far more. Data past the parser (validation, messages) stays linear in this.
 */
const MAX_ALIAS_EXPANSION = 100_000;

/** One problem, at an offset in the text; turned into `file:line:column ...` when reported. */
export interface Located {
  offset: number;
  message: string;
}

export const NONE = -1;
const EMPTY = 0;
const SCALAR = 1;
const ALIAS = 2;
export const MAPPING = 3;
export const SEQUENCE = 4;

/** A problem the node table finds while js-yaml composes (a bomb, a cycle); thrown through js-yaml to stop it at once. */
export class YamlProblem extends Error {
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
export class NodeTable {
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
    // js-yaml composes a node in a block as a would-be key first: two events, one node. For a
    // scalar (or alias) that is its only child at the same place; for a flow collection (`- { a: 1 }`),
    // the very object that child composed (a mapping whose only key is a collection is another object).
    const sameNode = only !== NONE && this.start[only] === start && (kind < MAPPING || this.results[only] === state.result);
    const finished = sameNode ? only : this.finish(node, kind, state);
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
export function keyText(result: unknown): string {
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

/** An alias as written (`*name`), cut and escaped for a message. */
export function aliasName(text: string, star: number): string {
  const match = /^\*[^\s,[\]{}]*/.exec(text.slice(star, star + 1024));
  return printable(match?.[0] ?? '*', QUOTE_LIMIT);
}
