import { close, constants, fstat, open, read } from 'node:fs';
import { promisify } from 'node:util';
import jsYaml from 'js-yaml';
import type { Problem } from './issues.js';
import { formatPath } from '../text/quote.js';
import { readErrorReason } from '../files/read-error.js';
import { describeFailure, fileLevelFailure } from './yaml-failure.js';
import { keyText, MAPPING, NodeTable, NONE, SEQUENCE, type Located } from './yaml-node-table.js';
import { reparseChanged, type EarlierParse } from './yaml-reparse.js';

/**
 * YAML text → data, with the position of every key and value, and nothing that can escape or
 * explode: syntax errors, unknown aliases, alias bombs and deep nesting all come back as located
 * problems. One parser (js-yaml, CORE schema) for every file the service reads; its event listener
 * gives the positions when a problem needs them.
 */

/** Problems listed for one file; a broken list of thousands of entries needs only the first to be fixed. */
const MAX_REPORTED_PROBLEMS = 100;
/** Nesting deeper than any config needs (about six levels), well inside js-yaml's recursion limits. */
const MAX_NESTING = 64;

/** A file this large is a mistake (a log, an image): 32 MiB of config holds several hundred thousand domains. */
const MAX_YAML_FILE_BYTES = 32 * 1024 * 1024;

// node:fs's callbacks, not node:fs/promises: that module loads readline, os and the file watchers
// with it, a few milliseconds of every short command's start (check-config reads one file).
const openFile = promisify(open);
const statFile = promisify(fstat);
const readInto = promisify(read);
const closeFile = promisify(close);

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
  let file: number;
  try {
    // O_NONBLOCK: opening a named pipe must not wait for a writer.
    file = await openFile(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return problem(describeReadError(error));
  }
  try {
    const info = await statFile(file);
    if (info.isDirectory()) return problem('it is a directory; give the path of the YAML file in it');
    if (!info.isFile()) return problem('it is not a regular file');
    const chunks: Buffer[] = [];
    let size = 0;
    // Read up to one byte past the limit: the file may have grown since stat().
    for (;;) {
      const { buffer, bytesRead } = await readInto(file, {
        buffer: Buffer.alloc(Math.min(1 << 20, MAX_YAML_FILE_BYTES + 1 - size)),
      });
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
    await closeFile(file).catch(() => undefined);
  }
}

function describeReadError(error: unknown): string {
  if ((error as NodeJS.ErrnoException).code === 'EISDIR') return 'it is a directory; give the path of the YAML file in it';
  return readErrorReason(error);
}

/**
 * Parses YAML text; never throws. Errors are complete report lines (`file:line:column message`).
 * With the parse of an earlier version of the file, only the entries that changed are read again
 * where that gives the same data (see yaml-reparse.ts).
 */
export function parseYaml(text: string, displayPath: string, earlier?: EarlierParse): YamlParse {
  // js-yaml drops a leading BOM itself, which would shift every position by one.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // The common case, read at js-yaml's own speed: without an anchor no alias can expand, and a
  // valid file needs no positions (they are composed when a problem or warning asks for one).
  if (!source.includes('&')) {
    const reread = earlier && reparseChanged(source, earlier, MAX_NESTING);
    if (reread !== undefined) return { ok: true, document: new YamlDocument(source, displayPath, reread) };
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
    /** The text parsed, without a byte-order mark. */
    readonly text: string,
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
