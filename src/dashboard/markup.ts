import { escapeHtml } from '../text/html.js';

/** Markup built by `markup`: the one kind of value a template inserts as it is. */
export class Html {
  constructor(readonly markup: string) {}

  toString(): string {
    return this.markup;
  }
}

/** `null`, `undefined` and `false` insert nothing (for `condition && markup\`...\``); lists insert each item. */
type Interpolated = Html | string | number | boolean | null | undefined | readonly Interpolated[];

function insert(value: Interpolated): string {
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(insert).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value as string | number);
}

/**
 * The dashboard's one way to write HTML (named so that prettier leaves its whitespace as written): every interpolated value is escaped (escapeHtml) unless
 * it is markup another `markup` template made, so a domain name, a user agent or a message from a
 * DNS server is always text, never markup, wherever a page shows it.
 */
export function markup(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let markup = strings[0]!;
  values.forEach((value, index) => {
    markup += insert(value) + strings[index + 1]!;
  });
  return new Html(markup);
}
