/**
 * Input quoted in error messages. A message goes to a terminal and into the log, and the value in
 * it is whatever the file held: so it is cut, escaped, and never expanded (a structure built with
 * YAML aliases can be exponentially larger than the file, or contain itself).
 */
import { cutMark, escapeTerminalControlsInJson, printable } from './printable.js';

/** Characters of a value shown in a message before it is cut. */
export const QUOTE_LIMIT = 80;

/** A value as a message shows it: a string quoted, a structure in flow style, at most about QUOTE_LIMIT characters. */
export function quote(value: unknown): string {
  if (typeof value === 'string') return quoteText(value);
  if (value === null || typeof value !== 'object') return String(value);
  return new BoundedRenderer().render(value);
}

function quoteText(text: string): string {
  const cut = text.length > QUOTE_LIMIT;
  const quoted = escapeTerminalControlsInJson(JSON.stringify(cut ? text.slice(0, QUOTE_LIMIT) : text));
  return cut ? `${quoted}${cutMark(text.length - QUOTE_LIMIT)}` : quoted;
}

/**
 * Renders lists and mappings with a character budget: each step spends some of it, so the work
 * is bounded by the budget, whatever the size or shape (shared or cyclic) of the structure.
 */
class BoundedRenderer {
  private budget = QUOTE_LIMIT;

  render(value: unknown): string {
    if (value === null || typeof value !== 'object') {
      const text = quote(value);
      this.budget -= text.length;
      return text;
    }
    this.budget -= 2;
    const shown: string[] = [];
    if (Array.isArray(value)) {
      for (const item of value) {
        if (this.budget <= 0) return `[${[...shown, cutMark(value.length - shown.length)].join(', ')}]`;
        this.budget -= 2;
        shown.push(this.render(item));
      }
      return `[${shown.join(', ')}]`;
    }
    for (const key in value) {
      if (this.budget <= 0) return `{${[...shown, cutMark(Object.keys(value).length - shown.length)].join(', ')}}`;
      const keyText = `${quote(key)}: `;
      this.budget -= keyText.length + 2;
      shown.push(keyText + this.render((value as Record<string, unknown>)[key]));
    }
    return `{${shown.join(', ')}}`;
  }
}

/** A field path as messages show it: `domains.example.com.mx[1]`; the whole document is `(top level)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : `${out === '' ? '' : '.'}${printable(String(segment), QUOTE_LIMIT)}`;
  }
  return out === '' ? '(top level)' : out;
}
