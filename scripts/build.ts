/**
 * esbuild bundles for every Lambda: functions/<name>/handler.ts -> dist/functions/<name>/index.mjs
 * (ESM, Node 22, minified, with a source map beside it). Native packages stay external and are
 * installed next to the bundle (the Dockerfile, the onnxruntime layer, or infra's zips):
 * onnxruntime-node and @duckdb/node-api load .node binaries that cannot be bundled.
 *
 *   npm run build [-- --only predict,batch-score] [--out DIR] [--json]
 *
 * Used by the local container rebuild (orchestration) and by infra packaging: import
 * buildFunctions() rather than shelling out.
 */
import { build, type Metafile } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const EXTERNAL_PACKAGES = ['onnxruntime-node', '@duckdb/node-api', '@duckdb/node-bindings'] as const;

export interface BuiltFunction {
  name: string;
  /** Absolute path of the bundle (index.mjs). */
  file: string;
  bytes: number;
  /** The largest inputs by bytes in the output, for size reviews. */
  largestInputs: Array<{ path: string; bytes: number }>;
  /** External packages the bundle imports at run time. */
  externals: string[];
}

const repoRoot = resolve(import.meta.dirname, '..');

/** Every function folder that has a handler.ts, sorted. */
export function functionNames(root = repoRoot): string[] {
  const dir = join(root, 'functions');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'handler.ts')))
    .map((d) => d.name)
    .sort();
}

export interface BuildOptions {
  /** Output root; each function goes to <outDir>/<name>/index.mjs. Default dist/functions. */
  outDir?: string;
  /** Subset of function names; default all. */
  only?: string[];
  minify?: boolean;
}

/**
 * The code version baked into every bundle (lib/model/lineage.ts reads it): CODE_VERSION when set
 * (the buildspec sets it from the commit CodeBuild checked out; the Dockerfile takes it as a build
 * argument), else the commit of this checkout, else "unknown" (a tree with neither).
 */
export function bakedCodeVersion(env: Record<string, string | undefined> = process.env): string {
  if (env.CODE_VERSION) return env.CODE_VERSION;
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    if (head) return head;
  } catch {
    // not a git checkout (a Docker build context, an unpacked source bundle)
  }
  return 'unknown';
}

/** Versions of the native packages, from the package.json files installed beside the bundle's sources. */
export function bakedLibraryVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pkg of ['onnxruntime-node', '@duckdb/node-api']) {
    const file = join(repoRoot, 'node_modules', pkg, 'package.json');
    if (!existsSync(file)) continue;
    const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
    if (version) out[pkg] = version;
  }
  return out;
}

export async function buildFunctions(options: BuildOptions = {}): Promise<BuiltFunction[]> {
  const outDir = resolve(options.outDir ?? join(repoRoot, 'dist', 'functions'));
  const all = functionNames();
  const names = options.only ?? all;
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0)
    throw new Error(`no functions/<name>/handler.ts for: ${unknown.join(', ')} (have: ${all.join(', ')})`);
  const results: BuiltFunction[] = [];
  const define = {
    __CREDIT_RISK_CODE_VERSION__: JSON.stringify(bakedCodeVersion()),
    __CREDIT_RISK_LIBRARY_VERSIONS__: JSON.stringify(bakedLibraryVersions()),
  };
  for (const name of names) {
    const outfile = join(outDir, name, 'index.mjs');
    const result = await build({
      entryPoints: [join(repoRoot, 'functions', name, 'handler.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'esm',
      minify: options.minify ?? true,
      sourcemap: 'external',
      legalComments: 'none',
      metafile: true,
      logLevel: 'warning',
      external: [...EXTERNAL_PACKAGES],
      // Lineage: the code and library versions every card records (lib/model/lineage.ts).
      define,
      // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
      banner: {
        js: "import { createRequire as __crCreateRequire } from 'node:module'; const require = __crCreateRequire(import.meta.url);",
      },
      // Powertools reads these at import; keep tree-shaking honest about side effects.
      mainFields: ['module', 'main'],
    });
    results.push(describe(name, outfile, result.metafile));
  }
  return results;
}

function describe(name: string, outfile: string, metafile: Metafile): BuiltFunction {
  const output = Object.entries(metafile.outputs).find(([path]) => path.endsWith('index.mjs'))?.[1];
  const inputs = Object.entries(output?.inputs ?? {}).map(([path, v]) => ({ path, bytes: v.bytesInOutput }));
  const externals = new Set<string>();
  for (const imp of output?.imports ?? []) if (imp.external && !isBuiltin(imp.path)) externals.add(imp.path);
  return {
    name,
    file: outfile,
    bytes: statSync(outfile).size,
    largestInputs: inputs.sort((a, b) => b.bytes - a.bytes).slice(0, 5),
    externals: [...externals].sort(),
  };
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log('usage: npm run build [-- --only predict,batch-score] [--out dist/functions] [--json]');
    return;
  }
  const built = await buildFunctions({ outDir: values.out, only: values.only?.split(',').filter(Boolean) });
  if (values.json) {
    console.log(JSON.stringify(built, null, 2));
    return;
  }
  for (const f of built) {
    console.error(
      `${f.name.padEnd(18)} ${kib(f.bytes).padStart(11)}  ${relative(process.cwd(), f.file)}  external: ${f.externals.join(', ') || '-'}`,
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await main(process.argv.slice(2));
}
