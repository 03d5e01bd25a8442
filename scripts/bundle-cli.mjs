// `npm run build`, after tsc: the command line as a few bundled files, written over tsc's
// dist/src/cli/main.js (what package.json's bin, the Dockerfile, the tests and the bench run),
// with its chunks in dist/src/cli-chunks/.
// A short command (check-config, dns, who) otherwise loads about 250 ES modules, 226 of them
// zod's, and Node resolves, reads and compiles each one on every run; bundled, it loads a
// handful. Each command's own code stays a chunk of its own, imported when the command runs
// (src/cli/commands.ts), so that the short commands still load nothing only `serve` needs.
// The other files in dist/src stay tsc's, one per module: tests import them, and Stryker
// (stryker.config.mjs) builds with tsc alone, so the unbundled main.js must work the same.
import { rmSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

// The chunks sit beside dist/src/cli, as deep as tsc's modules: code that finds the package's
// files from its own location (package.json for --version, config/providers.yaml) finds them
// the same way in both builds.
const OUT = 'dist/src';
const CHUNKS = 'cli-chunks';

// Bundled: the packages every config-reading command needs. Every other dependency stays a
// package of its own under node_modules, loaded only by the commands that use it: native code
// (better-sqlite3), worker threads started from file paths (pino), and what only `serve` loads,
// which test/cli-imports.test.ts recognises by its node_modules path.
const BUNDLED = new Set(['zod', 'js-yaml']);
const { dependencies } = JSON.parse(readFileSync('package.json', 'utf8'));

/**
 * `import { readFileSync } from 'node:fs'` in an ES module makes Node build the module's ES
 * facade, which reads every export, lazy ones included: node:fs then loads its streams, its
 * promises API and readline, node:util its worker_threads, about a seventh of Node's own start-up
 * for the modules a short command imports. So a builtin imported by the bundled code becomes a
 * module that takes it from process.getBuiltinModule (Node 20.16+ and 22.3+; the facade on
 * older Node 20) and exports the names as constants; those nothing imports are dropped.
 */
const builtinsWithoutFacades = {
  name: 'builtins-without-facades',
  setup(build) {
    const builtins = createRequire(import.meta.url);
    build.onResolve({ filter: /^node:/ }, ({ path, namespace }) =>
      namespace === 'builtin' ? { path, external: true } : { path, namespace: 'builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, ({ path }) => {
      const names = Object.keys(builtins(path)).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
      const specifier = JSON.stringify(path);
      return {
        contents: [
          `const builtin = process.getBuiltinModule?.(${specifier}) ?? (await import(${specifier})).default;`,
          'const take = (name) => builtin[name];',
          'export default builtin;',
          ...names.map((name) => `export const ${name} = /* @__PURE__ */ take(${JSON.stringify(name)});`),
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * zod's namespace (`z`) carries its error messages in 40-odd languages, `z.locales`, more than half
 * of its code; zod itself uses English (zod/v4/classic/schemas.js imports locales/en.js), and
 * nothing here reads z.locales. Bundled with English alone, `check-config` spends about a seventh
 * of Node's own start-up less on it; the messages are the same.
 */
const englishZodMessagesOnly = {
  name: 'english-zod-messages-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: "export { default as en } from './en.js';",
      loader: 'js',
    }));
  },
};

rmSync(`${OUT}/${CHUNKS}`, { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: OUT,
  entryNames: 'cli/[name]',
  chunkNames: `${CHUNKS}/[name]-[hash]`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(dependencies).filter((name) => !BUNDLED.has(name)),
  // Smaller files are less for Node to read and parse; names in a stack trace matter little, the
  // CLI prints none (src/cli/run.ts), and the source map tells where.
  minify: true,
  sourcemap: true,
  plugins: [builtinsWithoutFacades, englishZodMessagesOnly],
  logLevel: 'warning',
});
