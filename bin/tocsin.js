#!/usr/bin/env node
// The `tocsin` command: the compiled CLI when `npm run build` has produced it, else the
// TypeScript sources through tsx, so a checkout works without a build step.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
await cli.main();
