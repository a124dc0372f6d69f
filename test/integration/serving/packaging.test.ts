import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOnnxruntimeLayer, LAYER_BUDGET_BYTES } from '../../../layers/build-onnxruntime-layer.ts';
import { buildFunctions, functionNames } from '../../../scripts/build.ts';

describe('onnxruntime-node layer', () => {
  const out = mkdtempSync(join(tmpdir(), 'cr-layer-'));
  const layer = buildOnnxruntimeLayer(out);

  it('fits the 50 MB budget unzipped', () => {
    expect(layer.unzippedBytes).toBeLessThanOrEqual(LAYER_BUDGET_BYTES);
    expect(existsSync(layer.zip)).toBe(true);
    expect(layer.zipBytes).toBeLessThan(layer.unzippedBytes);
  });

  it('keeps only the linux x64 binaries', () => {
    const napi = join(layer.dir, 'nodejs/node_modules/onnxruntime-node/bin/napi-v6');
    expect(readdirSync(napi)).toEqual(['linux']);
    expect(readdirSync(join(napi, 'linux'))).toEqual(['x64']);
  });

  it('loads onnxruntime-node from the layer alone (outside the repository, as /opt/nodejs)', () => {
    const script =
      "const o = require('onnxruntime-node'); process.stdout.write(JSON.stringify(o.env.versions))";
    const versions = JSON.parse(
      execFileSync(process.execPath, ['-e', script], {
        cwd: join(layer.dir, 'nodejs'),
        env: { PATH: process.env.PATH },
      }).toString(),
    );
    expect(versions.node).toBe(layer.onnxruntimeVersion);
  });
});

describe('function bundles', () => {
  it('bundles every functions/<name>/handler.ts into <out>/<name>/index.mjs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'cr-build-'));
    const built = await buildFunctions({ outDir: out });
    expect(built.map((b) => b.name)).toEqual(functionNames());
    for (const b of built) expect(b.file).toBe(join(out, b.name, 'index.mjs'));
  });

  it('keeps the predict bundle under 2 MB with onnxruntime-node left external', async () => {
    const out = mkdtempSync(join(tmpdir(), 'cr-build-'));
    const [predict] = await buildFunctions({ outDir: out, only: ['predict'] });
    expect(predict.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    const text = readFileSync(predict.file, 'utf8');
    // The native binding must be imported at run time, never inlined.
    expect(text).not.toContain('onnxruntime_binding.node');
  });

  it('names an unknown function instead of building nothing', async () => {
    await expect(buildFunctions({ only: ['no-such-fn'] })).rejects.toThrow(/no-such-fn/);
  });
});

describe('predict Dockerfile (no Docker daemon here: its contract is checked as text)', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('runs on the AWS Lambda Node.js 22 base image', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toMatch(/^FROM public\.ecr\.aws\/lambda\/nodejs:22\b/);
  });

  it('bakes the model in at MODEL_DIR as the last layer and starts index.handler', () => {
    expect(instructions).toContainEqual(expect.stringMatching(/^ENV .*MODEL_DIR=\/opt\/model/));
    const lastCopy = instructions.filter((l) => l.startsWith('COPY ')).at(-1);
    expect(lastCopy).toMatch(/model\.onnx .*card\.json \/opt\/model\/$/);
    // explainer.json as a pattern that may match nothing: versions from before explanations build too.
    expect(lastCopy).toContain('${MODEL_SRC}/explainer.jso[n] ');
    expect(instructions.at(-1)).toBe('CMD ["index.handler"]');
  });

  it('ships the pruned onnxruntime tree and the bundle built by the repository scripts', () => {
    expect(dockerfile).toContain('scripts/build.ts --only predict');
    expect(dockerfile).toContain('layers/build-onnxruntime-layer.ts');
    expect(dockerfile).toMatch(
      /COPY --from=build .*onnxruntime-node\/nodejs\/node_modules \$\{LAMBDA_TASK_ROOT\}\/node_modules/,
    );
  });

  it('sends every file the build stage copies, and the model, into the build context', () => {
    const ignore = readFileSync('.dockerignore', 'utf8');
    for (const path of [
      'package.json',
      'package-lock.json',
      'lib/',
      'functions/',
      'scripts/build.ts',
      'layers/',
      'infra/zip.ts',
      'model/',
      'bin/',
    ]) {
      expect(ignore).toContain(`!${path}`);
    }
    for (const copy of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
      const sources = copy
        .split(/\s+/)
        .slice(1, -1)
        .filter((s) => !s.includes('$'));
      for (const s of sources) expect(existsSync(s)).toBe(true);
    }
  });
});
