/**
 * "Billion laughs": nine levels of nine aliases each under `key`, 9^9 nodes once expanded, from a
 * few hundred bytes of YAML. Parsers that expand aliases, and code that walks or prints the data,
 * blow up on it.
 */
export function aliasBomb(key: string): string {
  const lines = ['l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let level = 1; level < 9; level++)
    lines.push(
      `l${level}: &l${level} [${Array(9)
        .fill(`*l${level - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n${key}: *l8\n`;
}
