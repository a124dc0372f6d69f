#!/usr/bin/env node
// The `credit-risk` command. TypeScript is loaded through tsx so the CLI runs the same sources the
// Lambda bundles are built from, with nothing to compile first.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../local/cli.ts');
process.exitCode = await main(process.argv);
