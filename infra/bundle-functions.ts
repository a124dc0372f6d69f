/**
 * Builds the zip of every zip-packaged Lambda in serverless.yml (`package.artifact:
 * dist/lambda/<dir>.zip`): the esbuild bundle `index.mjs` from scripts/build.ts (the same bundler
 * the predict image and the local runtime use), plus what a bundle cannot contain - native bindings (DuckDB, onnxruntime-node, linux-x64 only: their functions run
 * on x86_64) and the feature SQL file read next to the bundle. The predict function is a container
 * image (Dockerfile) and is not built here.
 *
 *   node bin/run-ts.mjs infra/bundle-functions.ts [--strict] [--only name,name]
 *
 * Without --strict a function whose handler does not exist yet gets a stub that throws
 * HANDLER_NOT_BUILT (so the template can still be packaged and checked offline; the infra test
 * lists missing handlers as a failure of its own). `npm run deploy` always uses --strict.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildFunctions } from '../scripts/build.ts';
import { zipDirectory } from './zip.ts';

export type Architecture = 'x86_64' | 'arm64';

export interface ZipFunction {
  /** The folder under functions/ and the zip name under dist/lambda/. */
  dir: string;
  /** The osls function key in serverless.yml. */
  key: string;
  architecture: Architecture;
}

/** Must match serverless.yml (the infra unit test checks both directions). */
export const ZIP_FUNCTIONS: ZipFunction[] = [
  { dir: 'extract-features', key: 'extractFeatures', architecture: 'x86_64' },
  { dir: 'train', key: 'train', architecture: 'x86_64' },
  { dir: 'evaluate', key: 'evaluate', architecture: 'x86_64' },
  { dir: 'register', key: 'register', architecture: 'arm64' },
  { dir: 'canary', key: 'canary', architecture: 'arm64' },
  { dir: 'batch-score', key: 'batchScore', architecture: 'x86_64' },
  { dir: 'training-turn', key: 'trainingTurn', architecture: 'arm64' },
  { dir: 'start-pipeline', key: 'startPipeline', architecture: 'arm64' },
  { dir: 'drift-check', key: 'driftCheck', architecture: 'x86_64' },
  { dir: 'ingest-outcomes', key: 'ingestOutcomes', architecture: 'arm64' },
  { dir: 'realized-performance', key: 'realizedPerformance', architecture: 'arm64' },
];

/**
 * Packages loaded at run time from node_modules (native code), what each needs copied, and the
 * parts to keep: only the linux-x64 binaries (onnxruntime-node ships every platform: 288 MB).
 */
const NATIVE_PACKAGES: Record<string, { copy: string[]; prune?: (pkgDir: string) => void }> = {
  '@duckdb/node-api': {
    copy: ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc'],
  },
  '@duckdb/node-bindings': {
    copy: ['@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc'],
  },
  'onnxruntime-node': {
    copy: ['onnxruntime-node', 'onnxruntime-common'],
    prune: (pkgDir) => {
      const binRoot = join(pkgDir, 'bin');
      if (!existsSync(binRoot)) return;
      for (const napi of readdirSync(binRoot)) {
        for (const os of readdirSync(join(binRoot, napi))) {
          if (os !== 'linux') rmSync(join(binRoot, napi, os), { recursive: true, force: true });
          else
            for (const arch of readdirSync(join(binRoot, napi, os)))
              if (arch !== 'x64') rmSync(join(binRoot, napi, os, arch), { recursive: true, force: true });
        }
      }
    },
  },
};

const root = resolve(import.meta.dirname, '..');
export const LAMBDA_OUT = join(root, 'dist/lambda');

export interface BundleResult {
  dir: string;
  zip: string;
  stub: boolean;
  natives: string[];
  bytes: number;
  sha256: string;
}

export function handlerSource(fn: ZipFunction): string {
  return join(root, 'functions', fn.dir, 'handler.ts');
}

export async function bundleFunction(fn: ZipFunction, { strict = false } = {}): Promise<BundleResult> {
  const workDir = join(LAMBDA_OUT, fn.dir);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const entry = handlerSource(fn);
  let natives: string[] = [];
  const stub = !existsSync(entry);
  if (stub) {
    if (strict) throw new Error(`functions/${fn.dir}/handler.ts does not exist: cannot deploy ${fn.key}`);
    writeFileSync(
      join(workDir, 'index.mjs'),
      `// Stub: functions/${fn.dir}/handler.ts did not exist when this zip was built.\n` +
        `export const handler = async () => { throw new Error('HANDLER_NOT_BUILT: functions/${fn.dir}/handler.ts'); };\n`,
    );
  } else {
    const [built] = await buildFunctions({ only: [fn.dir], outDir: LAMBDA_OUT });
    natives = built.externals.filter((e) => e in NATIVE_PACKAGES);
    const unknown = built.externals.filter((e) => !(e in NATIVE_PACKAGES));
    if (unknown.length > 0)
      throw new Error(`${fn.key} imports ${unknown.join(', ')} at run time, which no zip ships`);
    if (natives.length > 0 && fn.architecture !== 'x86_64')
      throw new Error(
        `${fn.key} loads ${natives.join(', ')} (linux-x64 binaries) but is declared ${fn.architecture}`,
      );
    for (const pkg of natives) copyNative(pkg, workDir);
    // lib/features/feature-sql.ts reads sql/features.sql next to the bundle (import.meta.url).
    if (readFileSync(built.file, 'utf8').includes('sql/features.sql'))
      cpSync(join(root, 'lib/features/sql'), join(workDir, 'sql'), { recursive: true });
  }
  const zip = join(LAMBDA_OUT, `${fn.dir}.zip`);
  const { bytes, sha256 } = zipDirectory(workDir, zip);
  return { dir: fn.dir, zip, stub, natives, bytes, sha256 };
}

function copyNative(pkg: string, workDir: string): void {
  const spec = NATIVE_PACKAGES[pkg];
  for (const name of spec.copy) {
    const from = join(root, 'node_modules', name);
    if (!existsSync(from)) throw new Error(`native package ${name} is not installed (needed by ${pkg})`);
    const to = join(workDir, 'node_modules', name);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { recursive: true, dereference: true });
  }
  spec.prune?.(join(workDir, 'node_modules', pkg));
}

export async function bundleAll(
  options: { strict?: boolean; only?: string[] } = {},
): Promise<BundleResult[]> {
  mkdirSync(LAMBDA_OUT, { recursive: true });
  const selected = ZIP_FUNCTIONS.filter(
    (f) => !options.only || options.only.includes(f.dir) || options.only.includes(f.key),
  );
  const results: BundleResult[] = [];
  for (const fn of selected) results.push(await bundleFunction(fn, options));
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const strict = args.includes('--strict');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? args[onlyAt + 1]?.split(',') : undefined;
  const t0 = Date.now();
  const results = await bundleAll({ strict, only });
  for (const r of results)
    console.error(
      `[bundle] ${r.dir.padEnd(17)} ${(r.bytes / 1e6).toFixed(1).padStart(6)} MB${r.natives.length ? `  natives: ${r.natives.join(', ')}` : ''}${r.stub ? '  STUB: handler.ts missing' : ''}`,
    );
  console.error(
    `[bundle] ${results.length} zips in dist/lambda/ in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}
