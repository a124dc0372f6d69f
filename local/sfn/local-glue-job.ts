import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { projectPython, runSparkFeatures } from '#lib/features/spark-engine.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * The Glue job of the training machine, run on this machine: jobs/glue/extract_features.py on
 * local pyspark (lib/features/spark-engine.ts), with the job run's own arguments. Its `s3://` URIs
 * name the local object store (one directory stands for every bucket, keys unchanged), so the
 * job reads the Parquet the prepare stage staged and leaves its output where the publish stage
 * looks for it, as in AWS. Without the project's Python (pyspark) it fails with an error that
 * says so; there is no stand-in that would hide a broken contract.
 */
export type LocalGlueJob = (args: Readonly<Record<string, string>>) => Promise<{ jobRunId: string }>;

const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,62})\/(.*)$/;

function keyOf(args: Readonly<Record<string, string>>, name: string): string {
  const value = args[name];
  const m = value === undefined ? null : S3_URI.exec(value);
  if (!m || m[2] === '') {
    throw new InputError(
      'BAD_GLUE_ARGUMENTS',
      `the feature job needs ${name} as s3://bucket/key, got ${JSON.stringify(value)}`,
    );
  }
  return m[2];
}

export interface LocalFeatureJobOptions {
  store: ObjectStore;
  /** Scratch directory (the home's tmp). */
  tmpDir: string;
  /** The project's Python (default: CREDIT_RISK_PYTHON or .venv/bin/python, looked up per run). */
  python?: string | (() => string | undefined);
}

export function localFeatureGlueJob(options: LocalFeatureJobOptions): LocalGlueJob {
  const { store } = options;
  return async (args) => {
    const inputKey = keyOf(args, '--input');
    const outputPrefix = keyOf(args, '--output').replace(/\/?$/, '/');
    const asOf = args['--as_of'];
    if (!asOf) throw new InputError('BAD_GLUE_ARGUMENTS', 'the feature job needs --as_of YYYY-MM-DD');
    if (!(await store.head(inputKey))) {
      throw new InputError(
        'GLUE_INPUT_NOT_FOUND',
        `the feature job's --input does not exist: ${store.describe(inputKey)}`,
      );
    }
    await mkdir(options.tmpDir, { recursive: true });
    const python =
      typeof options.python === 'function' ? options.python() : (options.python ?? projectPython());
    if (!python) {
      throw new Error(
        'the Glue branch runs jobs/glue/extract_features.py on local pyspark, and there is no project Python: ' +
          'run `node scripts/python-env.mjs` (builds .venv with pyspark) or set CREDIT_RISK_PYTHON',
      );
    }
    const work = await mkdtemp(join(options.tmpDir, 'glue-'));
    try {
      const input = join(work, 'raw_valid.parquet');
      await store.download(inputKey, input);
      let result;
      try {
        result = await runSparkFeatures({ inputPath: input, outputDir: join(work, 'out'), asOf, python });
      } catch (e) {
        throw new Error(
          `the local Glue job (jobs/glue/extract_features.py on local pyspark) failed: ${(e as Error).message}`,
          { cause: e },
        );
      }
      // Spark's overwrite mode: each output directory is replaced as a whole.
      for (const [name, dir] of [
        ['features', result.featuresDir],
        ['online', result.onlineDir],
      ] as const) {
        const prefix = `${outputPrefix}${name}/`;
        for (const old of await store.list(prefix)) await store.delete(old.key);
        // .crc files are the local file system's checksums; S3 output has none.
        for (const file of (await readdir(dir)).filter((f) => !f.endsWith('.crc')).sort()) {
          await store.upload(join(dir, file), `${prefix}${file}`);
        }
      }
      const runId = createHash('sha256')
        .update(JSON.stringify(args))
        .update(String(Date.now()))
        .digest('hex')
        .slice(0, 16);
      return { jobRunId: `jr_local_${runId}` };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  };
}
