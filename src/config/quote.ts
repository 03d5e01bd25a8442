/**
 * Input quoted in error messages. A message goes to a terminal and into the log, and the value in
 * it is whatever the file held: so it is cut, escaped, and never expanded (a structure built with
 * YAML aliases can be exponentially larger than the file, or contain itself).
 */

/** Characters of a value shown in a message before it is cut. */
export const QUOTE_LIMIT = 80;

// JSON.stringify escapes C0 controls, quotes and backslashes; these it leaves alone, and a terminal
// would act on them: DEL and C1 controls, line and paragraph separators, bidirectional overrides, BOM.
const UNSAFE_AFTER_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
// The same plus C0 controls, for text that is shown without quotes (path segments).
const UNSAFE_UNQUOTED = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

const escapeCharacter = (character: string) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;

const cutMark = (left: number) => `…(+${left})`;

/** A value as a message shows it: a string quoted, a structure in flow style, at most about QUOTE_LIMIT characters. */
export function quote(value: unknown): string {
  if (typeof value === 'string') return quoteText(value);
  if (value === null || typeof value !== 'object') return String(value);
  return new BoundedRenderer().render(value);
}

function quoteText(text: string): string {
  const cut = text.length > QUOTE_LIMIT;
  const quoted = JSON.stringify(cut ? text.slice(0, QUOTE_LIMIT) : text).replace(UNSAFE_AFTER_JSON, escapeCharacter);
  return cut ? `${quoted}${cutMark(text.length - QUOTE_LIMIT)}` : quoted;
}

/** Text shown without quotes (a key in a field path, a parser's message): escaped and cut. */
export function plainText(text: string, limit = QUOTE_LIMIT): string {
  const cut = text.length > limit;
  const escaped = (cut ? text.slice(0, limit) : text).replace(UNSAFE_UNQUOTED, escapeCharacter);
  return cut ? `${escaped}${cutMark(text.length - limit)}` : escaped;
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
    out += typeof segment === 'number' ? `[${segment}]` : `${out === '' ? '' : '.'}${plainText(String(segment))}`;
  }
  return out === '' ? '(top level)' : out;
}
