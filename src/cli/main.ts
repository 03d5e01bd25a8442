#!/usr/bin/env node
// The `mta-sts-server` process: the command line, run on this process's own streams and environment.
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2), process);
