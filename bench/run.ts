/**
 * `npm run bench -- <suite> [options]`: runs one benchmark suite (bench/<suite>/index.ts) that
 * measures our path and its named peers side by side in the same run and prints ratios.
 * Results are written to bench/results/<suite>-<timestamp>.json; docs/BENCHMARKS.md records them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const suites = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'index.ts')))
  .map((d) => d.name);
const [suite, ...args] = process.argv.slice(2);
if (!suite || suite === '--help' || !suites.includes(suite)) {
  console.error(`usage: npm run bench -- <suite> [options]\nsuites: ${suites.join(', ') || '(none yet)'}`);
  process.exit(suite && suite !== '--help' ? 2 : 0);
}
const mod = (await import(`./${suite}/index.ts`)) as { main: (args: string[]) => Promise<void> };
await mod.main(args);
