/** The module.register hooks of record-imports.ts: each resolved URL goes to the output file. */
import { appendFileSync } from 'node:fs';

let output = '';

export function initialize(data: { output: string }): void {
  output = data.output;
}

type NextResolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<{ url: string }> {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(output, `${resolved.url}\n`);
  return resolved;
}
