#!/usr/bin/env node
// Compiles the `credit-risk` CLI (local/cli.ts and everything it imports from lib/, local/,
// functions/) to JavaScript in dist/cli/, so the command does not compile TypeScript through tsx
// on every start (docs/adr/0160-compiled-cli.md). npm runs it on install (`prepare`); the CLI
// falls back to the sources through tsx when dist/cli is missing or older than any of its inputs,
// so an edited source is never shadowed by a stale build.
//
// Dependencies stay external (loaded from node_modules as usual); one chunk per command module,
// so a command loads only its own code. Sources that find files next to themselves
// (import.meta.url / import.meta.dirname: the feature SQL, the ASL files, the OpenAPI document,
// the serve worker entry) keep finding them: those expressions are rewritten to the source file's
// own location, relative to the chunk that carries it. `import.meta.builtDirname` (undefined from
// the sources) becomes the chunk's own directory: how the serve primary finds the compiled worker.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const outdir = join(root, 'dist', 'cli');
const staging = `${outdir}.tmp-${process.pid}`;
const started = performance.now();

/** import.meta.url / dirname of a source file, as seen from the chunks in dist/cli/. */
const sourceLocation = {
  name: 'source-location',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${join(root, 'node_modules')}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta')) return { contents: text, loader: 'ts' };
      const fromOut = relative(outdir, args.path).split('\\').join('/');
      const dirFromOut = relative(outdir, dirname(args.path)).split('\\').join('/') || '.';
      const contents = replaceInCode(text, {
        'import.meta.url': `new URL(${JSON.stringify(fromOut)}, import.meta.url).href`,
        'import.meta.dirname': `__cliFileURLToPath(new URL(${JSON.stringify(`${dirFromOut}/`)}, import.meta.url))`,
        // The chunk's own directory (dist/cli/): where the build's other entries are.
        'import.meta.builtDirname': `__cliFileURLToPath(new URL('./', import.meta.url))`,
      });
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * Replaces each key where it appears as code, not inside a string, template text or comment (a
 * build script may well spell "import.meta.url" in a string it writes into a bundle).
 */
function replaceInCode(text, replacements) {
  const keys = Object.keys(replacements).sort((a, b) => b.length - a.length);
  let out = '';
  const stack = [{ kind: 'code', depth: 0 }];
  for (let i = 0; i < text.length;) {
    const top = stack[stack.length - 1];
    const c = text[i];
    if (top.kind === 'code') {
      const key = keys.find((k) => text.startsWith(k, i));
      if (key && !/[\w$.]/.test(text[i - 1] ?? '')) {
        out += replacements[key];
        i += key.length;
        continue;
      }
      if (c === '/' && text[i + 1] === '/') {
        const end = text.indexOf('\n', i);
        const stop = end === -1 ? text.length : end;
        out += text.slice(i, stop);
        i = stop;
        continue;
      }
      if (c === '/' && text[i + 1] === '*') {
        const end = text.indexOf('*/', i + 2);
        const stop = end === -1 ? text.length : end + 2;
        out += text.slice(i, stop);
        i = stop;
        continue;
      }
      if (c === "'" || c === '"') stack.push({ kind: c });
      else if (c === '`') stack.push({ kind: 'template' });
      else if (c === '{') top.depth++;
      else if (c === '}') {
        if (top.depth === 0 && stack.length > 1) stack.pop();
        else top.depth--;
      }
      out += c;
      i++;
      continue;
    }
    if (c === '\\') {
      out += text.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (top.kind === 'template' && c === '$' && text[i + 1] === '{') {
      stack.push({ kind: 'code', depth: 0 });
      out += '${';
      i += 2;
      continue;
    }
    if ((top.kind === 'template' && c === '`') || c === top.kind) stack.pop();
    out += c;
    i++;
  }
  return out;
}

/** True when dist/cli was built from exactly the sources on disk (what bin/credit-risk.mjs checks). */
function current() {
  try {
    const { inputs } = JSON.parse(readFileSync(join(outdir, 'inputs.json'), 'utf8'));
    return inputs.every(([path, size, mtime]) => {
      const s = statSync(join(root, path));
      return s.size === size && Math.trunc(s.mtimeMs) === mtime;
    });
  } catch {
    return false;
  }
}

// A current build is left alone: replacing it would pull chunks from under a CLI starting now.
if (!process.argv.includes('--force') && current()) {
  if (!process.argv.includes('--quiet')) console.error('[build-cli] dist/cli is up to date');
  process.exit(0);
}

rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
const result = await build({
  absWorkingDir: root,
  // The serve worker's entry too: `credit-risk serve --workers N` forks it when the CLI runs compiled.
  entryPoints: { cli: 'local/cli.ts', 'serve-worker': 'local/server/serve-worker-main.ts' },
  outdir: staging,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunk-[hash]',
  outExtension: { '.js': '.mjs' },
  banner: { js: "import { fileURLToPath as __cliFileURLToPath } from 'node:url';" },
  plugins: [sourceLocation],
  metafile: true,
  logLevel: 'warning',
});
// What the build was made from, with each file's size and modification time: bin/credit-risk.mjs
// uses the build only while every input is unchanged.
const inputs = Object.keys(result.metafile.inputs)
  .filter((p) => !p.startsWith('node_modules/'))
  .map((p) => {
    const s = statSync(join(root, p));
    return [p, s.size, Math.trunc(s.mtimeMs)];
  });
writeFileSync(join(staging, 'inputs.json'), JSON.stringify({ builtAt: new Date().toISOString(), inputs }));
rmSync(outdir, { recursive: true, force: true });
renameSync(staging, outdir);
const ms = Math.round(performance.now() - started);
if (!process.argv.includes('--quiet'))
  console.error(`[build-cli] ${inputs.length} sources -> dist/cli in ${ms} ms`);
