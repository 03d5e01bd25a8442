/**
 * Text from outside (a config file, a request header, a reverse-DNS name, a log read back) made
 * safe to show: on a terminal, in a log line, in a message. Cut to a bound, with the cut marked,
 * and every character a terminal would act on escaped as visible text.
 */

/** Characters of attacker-given text (a User-Agent, a Host, a PTR name) a log line keeps; the README's "Logging limits". */
export const LOGGED_TEXT_LIMIT = 256;

// Characters a terminal acts on that JSON.stringify leaves alone: DEL and C1 controls (U+009B is
// CSI, as ESC [ is), line and paragraph separators, bidirectional overrides, BOM. `jq -r` and
// `docker logs` print them raw, so escaping the JSON is not enough: the string must not hold them.
const TERMINAL_CONTROLS_AFTER_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
// The same plus C0 controls, and the backslash that starts an escape, for text shown without quotes.
const UNPRINTABLE = /[\u0000-\u001f\\\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

// Anything but printable ASCII, or the backslash: the characters printable() may have to escape.
const NEEDS_ESCAPING = /[^\u0020-\u005b\u005d-\u007e]/;

/** `\u009b` for a control, `\\` for the backslash itself, so that an escape in the output always means one. */
const escapeCharacter = (character: string) =>
  character === '\\' ? '\\\\' : `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** The mark after text that was cut: how many characters were left out. */
export const cutMark = (left: number) => `…(+${left})`;

/**
 * Text shown without quotes: at most `limit` characters of it (then `…(+N)`), every control
 * character (C0, DEL, C1), bidirectional control and the backslash escaped.
 */
export function printable(text: string, limit: number): string {
  // Nearly every User-Agent and Host: nothing to cut or escape, found without building a new string.
  if (text.length <= limit && !NEEDS_ESCAPING.test(text)) return text;
  // A surrogate pair is one character: cut before it rather than through it.
  const end = text.length <= limit ? text.length : isHighSurrogate(text.charCodeAt(limit - 1)) ? limit - 1 : limit;
  const kept = end === text.length ? text : text.slice(0, end);
  const escaped = kept.replace(UNPRINTABLE, escapeCharacter);
  return end === text.length ? escaped : `${escaped}${cutMark(text.length - end)}`;
}

/** Attacker-given text (a User-Agent, a Host, a PTR name) as a log line or a live view shows it: at most LOGGED_TEXT_LIMIT characters, escaped. */
export const loggable = (text: string): string => printable(text, LOGGED_TEXT_LIMIT);

/** JSON text (JSON.stringify's output) with the characters it leaves alone that a terminal would act on escaped. */
export function escapeTerminalControlsInJson(json: string): string {
  return json.replace(TERMINAL_CONTROLS_AFTER_JSON, escapeCharacter);
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
