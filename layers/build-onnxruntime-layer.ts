/**
 * The onnxruntime-node Lambda layer for zip-packaged functions (batch-score; predict is a container
 * image and copies the same pruned tree in its Dockerfile):
 *
 *   dist/layers/onnxruntime-node/nodejs/node_modules/{onnxruntime-node,onnxruntime-common}
 *   dist/layers/onnxruntime-node.zip
 *
 * onnxruntime-node ships binaries for every platform (288 MB installed); a layer holds 250 MB
 * unzipped with the function, so only bin/napi-v6/linux/x64 is kept (~45 MB), plus the compiled
 * JavaScript. TypeScript sources, source maps, declarations and the install script are dropped.
 *
 *   node bin/run-ts.mjs layers/build-onnxruntime-layer.ts [--out DIR] [--json]
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { zipDirectory } from '../infra/zip.ts';

/** Lambda's platform: x86_64 functions (the predict image and batch-score are built for it). */
export const LAYER_PLATFORM = { os: 'linux', arch: 'x64' } as const;
/** Our budget for the layer, unzipped (Lambda's limit is 250 MB for function + layers). */
export const LAYER_BUDGET_BYTES = 50 * 1024 * 1024;

export interface LayerResult {
  /** Directory whose contents are the layer (contains nodejs/). */
  dir: string;
  zip: string;
  unzippedBytes: number;
  zipBytes: number;
  files: number;
  onnxruntimeVersion: string;
}

const repoRoot = resolve(import.meta.dirname, '..');
const require = createRequire(join(repoRoot, 'package.json'));

/** The root of an installed package (its exports map may hide package.json, and its dist/cjs may hold a nested one). */
function packageRoot(entry: string, name: string): string {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name
    )
      return dir;
  }
  throw new Error(`cannot find the package root of ${name} from ${entry}`);
}

function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
    files++;
  }
  return { bytes, files };
}

const DROPPED = /(\.d\.ts|\.d\.ts\.map|\.js\.map|\.md)$/;

function copyPruned(from: string, to: string, keepTopLevel: string[]): void {
  mkdirSync(to, { recursive: true });
  for (const entry of keepTopLevel) {
    const src = join(from, entry);
    if (!existsSync(src)) continue;
    cpSync(src, join(to, entry), {
      recursive: true,
      filter: (path) => !DROPPED.test(path),
    });
  }
}

export function buildOnnxruntimeLayer(outDir = join(repoRoot, 'dist', 'layers')): LayerResult {
  const layerDir = join(outDir, 'onnxruntime-node');
  rmSync(layerDir, { recursive: true, force: true });
  const modules = join(layerDir, 'nodejs', 'node_modules');

  const ortSrc = packageRoot(require.resolve('onnxruntime-node'), 'onnxruntime-node');
  const ortDst = join(modules, 'onnxruntime-node');
  copyPruned(ortSrc, ortDst, ['package.json', 'dist', 'LICENSE']);
  const binary = join('bin', 'napi-v6', LAYER_PLATFORM.os, LAYER_PLATFORM.arch);
  if (!existsSync(join(ortSrc, binary)))
    throw new Error(`onnxruntime-node has no ${binary} (is it installed?)`);
  cpSync(join(ortSrc, binary), join(ortDst, binary), { recursive: true });

  // onnxruntime-common resolves from onnxruntime-node's own node_modules or the top level.
  const ortRequire = createRequire(join(ortSrc, 'package.json'));
  const commonSrc = packageRoot(ortRequire.resolve('onnxruntime-common'), 'onnxruntime-common');
  copyPruned(commonSrc, join(modules, 'onnxruntime-common'), ['package.json', 'dist', 'LICENSE']);

  const zip = join(outDir, 'onnxruntime-node.zip');
  mkdirSync(outDir, { recursive: true });
  const zipped = zipDirectory(layerDir, zip);
  const { bytes, files } = dirBytes(layerDir);
  const version = (JSON.parse(readFileSync(join(ortSrc, 'package.json'), 'utf8')) as { version: string })
    .version;
  return {
    dir: layerDir,
    zip,
    unzippedBytes: bytes,
    zipBytes: zipped.bytes,
    files,
    onnxruntimeVersion: version,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: 'string' }, json: { type: 'boolean' } },
  });
  const r = buildOnnxruntimeLayer(values.out ? resolve(values.out) : undefined);
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else {
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    console.error(
      `onnxruntime-node ${r.onnxruntimeVersion} layer: ${mb(r.unzippedBytes)} unzipped (${r.files} files, budget ${mb(LAYER_BUDGET_BYTES)}), ` +
        `${mb(r.zipBytes)} zipped\n  ${r.zip}`,
    );
    if (r.unzippedBytes > LAYER_BUDGET_BYTES) process.exitCode = 1;
  }
}
