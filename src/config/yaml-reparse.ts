import jsYaml from 'js-yaml';
import { isMapping } from './issues.js';
import { alignKeys } from './key-alignment.js';

/**
 * An edited YAML file read again from the parse of its earlier text: a top-level section written
 * as before keeps the earlier data, and in a section that is a block mapping (a config's
 * `domains`) only the entries written differently are read by js-yaml. At 100 000 domains js-yaml
 * over the whole file was a third of a one-domain reload, and its garbage more.
 *
 * The text is cut at lines: a top-level key begins a section, a line at the indentation of a
 * block's first entry begins an entry. Where that cut may not be the one js-yaml makes, the answer
 * is undefined and the caller parses the whole file: the earlier text must cut into exactly the
 * keys of its data, in order; each entry read again must be one key, the one its line begins
 * with; no anchors (an alias reaches across entries), tabs or carriage returns (indentation is
 * counted in spaces), directives, keys that are numbers or not plain, or a key written twice.
 */

export interface EarlierParse {
  /** The text parsed (without a byte-order mark), and js-yaml's data for it. */
  readonly text: string;
  readonly data: unknown;
}

interface Piece {
  readonly key: string;
  readonly start: number;
  end: number;
}

interface Section extends Piece {
  /** Undefined when the section is read whole: its value is on the key's line, or its lines are not `key:` entries. */
  entries: Piece[] | undefined;
  indent: number;
}

/** A plain key as the config writes them (top-level names, domain names), at a line's indentation, and what follows it. */
const TOP_LEVEL_KEY = /([A-Za-z_][A-Za-z0-9_-]*):( *(?:#.*)?$| )/my;
const ENTRY_KEY = /([A-Za-z0-9_][A-Za-z0-9_.-]*):(?: |$)/my;
const DOCUMENT_START = /---[ ]*(?:#.*)?$/my;
/** Keys js-yaml's object orders before all others, and one an assignment would not store as a key. */
const UNORDERED_KEY = /^(?:\d+|__proto__)$/;

export function reparseChanged(text: string, earlier: EarlierParse, maxDepth: number): unknown {
  const { text: before, data } = earlier;
  if (text === before) return data;
  // An alias in an entry read as before names an anchor that the edit may have removed.
  if (!isMapping(data) || before.includes('&') || /[&\t\r]|^%/m.test(text)) return undefined;
  const was = sectionsOf(before);
  const now = sectionsOf(text);
  // No section at all is js-yaml's undefined, not an empty mapping.
  if (was === undefined || now === undefined || now.length === 0 || !cutAsParsed(was, data)) return undefined;
  const wasByKey = new Map(was.map((section) => [section.key, section]));
  const result: Record<string, unknown> = {};
  for (const section of now) {
    if (Object.hasOwn(result, section.key)) return undefined;
    const earlierSection = wasByKey.get(section.key);
    const earlierValue = data[section.key];
    let value: { value: unknown } | undefined;
    if (earlierSection && sameText(before, earlierSection, text, section)) value = { value: earlierValue };
    // A block of no entries is null, not an empty mapping: read whole, as are sections not cut into entries.
    else if (earlierSection?.entries && section.entries?.length && isMapping(earlierValue)) {
      value = reparseEntries(before, earlierSection.entries, earlierValue, text, section.entries, maxDepth);
    } else value = parsePiece(text, section, maxDepth);
    if (value === undefined) return undefined;
    result[section.key] = value.value;
  }
  return result;
}

/** Whether two values of js-yaml's data (mappings, lists, scalars) are written alike. */
export function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every(
    (key) => Object.hasOwn(b, key) && sameData((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

/** The block's entries: those written as before keep the earlier data, the others are read alone. */
function reparseEntries(
  before: string,
  was: readonly Piece[],
  block: Record<string, unknown>,
  text: string,
  now: readonly Piece[],
  maxDepth: number,
): { value: Record<string, unknown> } | undefined {
  // The earlier data's own keys (cutAsParsed made sure they are the earlier pieces'): stored again without being hashed again.
  const keys = Object.keys(block);
  const match = alignKeys(
    keys,
    now.map((entry) => entry.key),
  );
  const matched = new Uint8Array(keys.length);
  for (const at of match) if (at >= 0) matched[at] = 1;
  const added = new Set<string>();
  const entries: Record<string, unknown> = {};
  for (let index = 0; index < now.length; index++) {
    const entry = now[index]!;
    const at = match[index]!;
    if (at >= 0 && sameText(before, was[at]!, text, entry)) {
      entries[keys[at]!] = block[keys[at]!];
      continue;
    }
    if (at < 0) {
      // A key written twice: js-yaml rejects the file, with a located error.
      if (added.has(entry.key) || (Object.hasOwn(block, entry.key) && matched[keys.indexOf(entry.key)] === 1)) return undefined;
      added.add(entry.key);
    }
    // One level down in the file: one level less to the same limit.
    const value = parsePiece(text, entry, maxDepth - 1);
    if (value === undefined) return undefined;
    entries[entry.key] = value.value;
  }
  return { value: entries };
}

/** The value of the piece's key, read from the piece alone; undefined unless it is that one key. */
function parsePiece(text: string, piece: Piece, maxDepth: number): { value: unknown } | undefined {
  try {
    const parsed = jsYaml.load(text.slice(piece.start, piece.end), {
      schema: jsYaml.CORE_SCHEMA,
      maxDepth,
    } as jsYaml.LoadOptions);
    if (!isMapping(parsed)) return undefined;
    const keys = Object.keys(parsed);
    return keys.length === 1 && keys[0] === piece.key ? { value: parsed[piece.key] } : undefined;
  } catch {
    return undefined;
  }
}

function sameText(before: string, earlier: Piece, text: string, piece: Piece): boolean {
  return (
    earlier.end - earlier.start === piece.end - piece.start &&
    before.startsWith(text.slice(piece.start, piece.end), earlier.start)
  );
}

/** Whether the earlier text's sections and block entries are the keys js-yaml found, in its order. */
function cutAsParsed(sections: readonly Section[], data: Record<string, unknown>): boolean {
  const keys = Object.keys(data);
  return (
    keys.length === sections.length &&
    sections.every((section, index) => {
      if (section.key !== keys[index]) return false;
      if (section.entries === undefined) return true;
      const block = data[section.key];
      if (!isMapping(block)) return false;
      const entryKeys = Object.keys(block);
      return entryKeys.length === section.entries.length && section.entries.every((entry, at) => entry.key === entryKeys[at]);
    })
  );
}

/** The text cut into top-level sections, and block sections into entries; undefined where a line does not fit. */
function sectionsOf(text: string): Section[] | undefined {
  const sections: Section[] = [];
  let section: Section | undefined;
  const matchAt = (pattern: RegExp, offset: number) => {
    pattern.lastIndex = offset;
    return pattern.exec(text);
  };
  for (let at = 0, next = 0; at < text.length; at = next) {
    const newline = text.indexOf('\n', at);
    next = newline < 0 ? text.length : newline + 1;
    let indent = 0;
    while (text.charCodeAt(at + indent) === 0x20) indent++;
    const first = text[at + indent];
    if (first === undefined || first === '\n' || first === '#') continue;
    if (indent === 0) {
      if (sections.length === 0 && matchAt(DOCUMENT_START, at)) continue;
      const header = matchAt(TOP_LEVEL_KEY, at);
      if (header === null || UNORDERED_KEY.test(header[1]!)) return undefined;
      if (section) section.end = at;
      // `key:` alone on its line (maybe with a comment) opens a block; a value on the line is read whole.
      section = { key: header[1]!, start: at, end: text.length, entries: header[2] === ' ' ? undefined : [], indent: 0 };
      sections.push(section);
      continue;
    }
    if (!section) return undefined;
    if (section.entries === undefined) continue;
    if (section.indent === 0) section.indent = indent;
    // A line less indented than the entries continues one (js-yaml allows it in a flow collection).
    if (indent !== section.indent) continue;
    const key = matchAt(ENTRY_KEY, at + indent)?.[1];
    // Not a `key:` entry (a list, a quoted key): the section is read whole.
    if (key === undefined || UNORDERED_KEY.test(key)) {
      section.entries = undefined;
      continue;
    }
    const last = section.entries.at(-1);
    if (last) last.end = at;
    section.entries.push({ key, start: at, end: text.length });
  }
  for (const { entries, end } of sections) {
    const last = entries?.at(-1);
    if (last) last.end = end;
  }
  return sections;
}
