/**
 * `node --import ./record-imports.js`: records every module the process loads, one URL or path
 * a line, in the file named by RECORD_IMPORTS_TO. ES modules are seen by a resolve hook (which
 * runs on the loader's own thread); CommonJS modules, which Node 20 loads without that hook when
 * a package requires them, are read from require's cache when the process exits.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const output = process.env.RECORD_IMPORTS_TO;
if (!output) throw new Error('record-imports: set RECORD_IMPORTS_TO to the file to record into');
register(new URL('./record-imports-hooks.js', import.meta.url), { data: { output } });
const loadedByRequire = createRequire(import.meta.url).cache;
process.on('exit', () =>
  appendFileSync(
    output,
    Object.keys(loadedByRequire)
      .map((path) => `${path}\n`)
      .join(''),
  ),
);
