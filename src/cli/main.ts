#!/usr/bin/env node
// The `mta-sts-server` process: the command line, run on this process's own streams and environment.
import { enableCompileCache } from './compile-cache.js';

// The compile cache serves the modules imported after it is on, so the dispatcher is imported
// here, not above. `serve` starts once and runs for months: it writes nothing outside state_dir.
if (process.argv[2] !== 'serve') enableCompileCache(process.env);
const { runCli } = await import('./run.js');
process.exitCode = await runCli(process.argv.slice(2), process);
