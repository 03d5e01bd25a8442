import jsYaml from 'js-yaml';
import { printable } from '../text/printable.js';
import { formatPath, quote, QUOTE_LIMIT } from '../text/quote.js';
import { aliasName, YamlProblem, type Located, type NodeTable } from './yaml-node-table.js';

/** Why js-yaml stopped, in words a config author can act on, at its place in the text when it has one. */

/** A syntax error, or a problem found while composing, at its place in the text; undefined when it has none. */
export function describeFailure(error: unknown, text: string, nodes: NodeTable): Located | undefined {
  // A problem found at a node's close: that node is already off the stack, its ancestors are all on it.
  if (error instanceof YamlProblem) return { offset: error.offset, message: withPath(nodes, nodes.stack, error.problem) };
  if (!(error instanceof jsYaml.YAMLException) || !error.mark) return undefined;
  // A syntax error: the last open node is the one being read, its ancestors are before it.
  const ancestors = nodes.stack.slice(0, -1);
  const reason = error.reason ?? error.message;
  const offset = error.mark.position;
  // Stryker disable next-line Regex: js-yaml's reason is this whole string, so the anchors change no match
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
  // Stryker disable next-line Regex: js-yaml's reason is this whole string, so the anchors change no match
  const unknownTag = /^unknown tag !<(.+)>$/s.exec(reason);
  const tagAt = unknownTag ? text.lastIndexOf(unknownTag[1]!, offset) : -1;
  const at = tagAt !== -1 && !text.slice(tagAt, offset).includes('\n') ? tagAt : offset;
  return { offset: at, message: withPath(nodes, ancestors, rephrase(reason)) };
}

/** js-yaml's wording, made actionable where a config author would not know what to do; input in it is cut and escaped. */
function rephrase(reason: string): string {
  // Stryker disable next-line Regex: js-yaml's reason is this whole string, so the anchors change no match
  const depth = /^nesting exceeded maxDepth \((\d+)\)$/.exec(reason);
  if (depth) return `nested more than ${depth[1]} levels deep; a config needs about six`;
  if (reason === 'null byte is not allowed in input') return 'a NUL byte; a config file is text (is this the right file?)';
  if (reason === 'tab characters must not be used in indentation') return 'a tab in the indentation; YAML indents with spaces';
  if (reason.startsWith('unknown tag !<'))
    return `${printable(reason, 120)}; this file uses no tags: remove the "!" or quote the value`;
  return printable(reason, 160);
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

/** What went wrong when js-yaml gave no position; still one line, without a stack trace. */
export function fileLevelFailure(error: unknown): string {
  if (error instanceof jsYaml.YAMLException && /single document/.test(error.reason ?? '')) {
    return 'holds more than one YAML document ("---" separates them); a config file is one document';
  }
  if (error instanceof RangeError) return `nested too deeply to read (${printable(error.message, QUOTE_LIMIT)})`;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `cannot be read as YAML: ${printable(message, 160)}`;
}
