/** Rows of cells as aligned text columns, two spaces apart, the first row being the header. */
export function formatTable(rows: readonly (readonly string[])[], indent = ''): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  return rows
    .map(
      (cells) =>
        `${indent}${cells
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
