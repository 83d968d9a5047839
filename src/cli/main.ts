#!/usr/bin/env node
// The `docket` command (package.json "bin", built to dist/cli.js): runs the CLI on this
// process's arguments and streams and exits with its code. Everything else is in run.ts.
import { run } from './run.js';

// `docket jobs list | head`: the reader went away; that is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

void run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  // Not process.exit(): the pool is ended, so the process ends once stdout is flushed.
  process.exitCode = code;
});
