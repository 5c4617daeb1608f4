#!/usr/bin/env node
// The `pvm` command. Runs the compiled library (dist/, built by `npm ci` / `npm run build`).
import { main } from '../dist/lib/cli.js';

process.exitCode = await main(process.argv.slice(2));
