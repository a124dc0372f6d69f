import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * Unit tests mirror the source: test/unit/<path>/<file>.test.ts tests lib/<path>/<file>.ts (or
 * functions/, local/, scripts/, bench/ files under their own root), and a second suite of one file
 * is named <file>.<aspect>.test.ts. A reader finds a file's tests by its path. The suites below
 * test no single source file; each says what it tests instead.
 */
const TOPIC_SUITES: Record<string, string> = {
  'adapters/aws/deploy-adapters': 'the four AWS deploy adapters against one recorded release',
  'adapters/local/deploy-adapters': 'the local deploy adapters together, as the local canary uses them',
  'architecture/handler-size': 'the size of every functions/<name>/handler.ts',
  'architecture/import-cycles': 'the import graph of every source file',
  'architecture/lint-boundaries': 'the eslint boundary rules, on fixtures',
  'architecture/test-layout': 'this rule',
  'docs/links': 'docs/: links, ADR index and ADR shape',
  'functions/aws-entry-points': 'every handler module, as the Lambda runtime loads it',
  'functions/outcomes-handlers': 'the ingest-outcomes and realized-performance handlers over one store',
  'functions/train-evaluate-register': 'the train, evaluate and register handlers in sequence',
  'infra/buildspec': 'buildspec.yml',
  'infra/bundle': 'the esbuild bundle of each function',
  'infra/outcomes-resources': 'infra/resources/outcomes.yml against the code it serves',
  'model/explain-split-baseline': 'explain, split and the logistic baseline at their seams',
  'model/report-tuning-staleness': 'the report sections of tuning and staleness',
  'sfn/asl': 'the ASL files in state-machines/',
  'sfn/local-glue-job': 'the local stand-in of the Glue job in the state machine',
  'sfn/tuning-machine': 'the tuning states of the training state machine',
};

const root = resolve(import.meta.dirname, '../../..');
const unitDir = join(root, 'test/unit');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? testFiles(join(dir, e.name))
      : e.name.endsWith('.test.ts')
        ? [relative(unitDir, join(dir, e.name))]
        : [],
  );
}

/** The source a test file mirrors, if one exists: the name before `.test.ts` and any `.aspect`. */
function mirroredSource(testPath: string): string | undefined {
  const dir = testPath.includes('/') ? testPath.slice(0, testPath.lastIndexOf('/') + 1) : '';
  const name = testPath.slice(dir.length).split('.')[0];
  const candidates = [`lib/${dir}${name}.ts`, `${dir}${name}.ts`, `${dir}${name}.mjs`];
  return candidates.find((c) => existsSync(join(root, c)));
}

describe('unit tests mirror the source', () => {
  const files = testFiles(unitDir);

  it('finds the suites (the walk itself works)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain('features/feature-sql.test.ts');
  });

  it('every unit test names its source file by its path, or is a listed topic suite', () => {
    const strays = files.filter(
      (f) => mirroredSource(f) === undefined && !(f.replace(/\.test\.ts$/, '') in TOPIC_SUITES),
    );
    expect(strays).toEqual([]);
  });

  it('every listed topic suite exists and mirrors no single file', () => {
    for (const topic of Object.keys(TOPIC_SUITES)) {
      expect(files).toContain(`${topic}.test.ts`);
      expect(mirroredSource(`${topic}.test.ts`)).toBeUndefined();
    }
  });

  it('maps a handler, a lib file and an aspect suite to their sources', () => {
    expect(mirroredSource('functions/predict/handler.test.ts')).toBe('functions/predict/handler.ts');
    expect(mirroredSource('model/metrics.reuse.test.ts')).toBe('lib/model/metrics.ts');
    expect(mirroredSource('local/server/telemetry-sink.test.ts')).toBe('local/server/telemetry-sink.ts');
    expect(mirroredSource('serving/no-such-file.test.ts')).toBeUndefined();
  });
});
