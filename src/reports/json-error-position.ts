/**
 * Where JSON text first goes wrong, for a located error message: V8's JSON.parse names the
 * position for some errors only ("Unexpected token '}', ..." has none). Run only after
 * JSON.parse failed, so its cost does not matter; undefined when the text is valid after all.
 */
export function jsonErrorPosition(text: string): number | undefined {
  const scanner = new Scanner(text);
  try {
    scanner.value();
    scanner.space();
    return scanner.at === text.length ? undefined : scanner.at;
  } catch (error) {
    if (error instanceof SyntaxAt) return error.at;
    // Nesting deeper than the stack: the position is not worth a crash.
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

class SyntaxAt {
  constructor(readonly at: number) {}
}

const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERAL = /true|false|null/y;

class Scanner {
  at = 0;
  constructor(private readonly text: string) {}

  space(): void {
    while (this.at < this.text.length && ' \t\n\r'.includes(this.text[this.at]!)) this.at++;
  }

  value(): void {
    this.space();
    const next = this.text[this.at];
    if (next === '{') return this.sequence('}', () => (this.token(STRING), this.expect(':'), this.value()));
    if (next === '[') return this.sequence(']', () => this.value());
    if (next === '"') return this.token(STRING);
    this.token(next === 't' || next === 'f' || next === 'n' ? LITERAL : NUMBER);
  }

  /** `{...}` or `[...]`: items separated by commas, no trailing comma. */
  private sequence(close: string, item: () => void): void {
    this.at++;
    this.space();
    if (this.text[this.at] === close) {
      this.at++;
      return;
    }
    for (;;) {
      item();
      this.space();
      if (this.text[this.at] === ',') this.at++;
      else return this.expect(close);
    }
  }

  private token(pattern: RegExp): void {
    this.space();
    pattern.lastIndex = this.at;
    if (!pattern.test(this.text)) throw new SyntaxAt(this.at);
    this.at = pattern.lastIndex;
  }

  private expect(character: string): void {
    this.space();
    if (this.text[this.at] !== character) throw new SyntaxAt(this.at);
    this.at++;
  }
}
