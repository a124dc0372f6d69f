import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { buildFeatures, finishFeatureSnapshot, prepareFeatureInput, type PreparedInput } from './build.ts';
import { publishGuardsFor } from './champion-requirement.ts';
import { publishSnapshot } from './publish.ts';
import { resolveRawInput, resolveRawKey } from './raw-input.ts';
import { fetchStagedOutput, stagePreparedInput, type StagedInput } from './staging.ts';

/**
 * The feature steps of the training machine, run by the extract-features function in AWS and
 * locally (functions/extract-features): a raw loans file in the object store -> validated rows,
 * point-in-time features -> a published snapshot (offline store, online store, CURRENT), and the
 * Glue branch's two stages around the Spark job.
 */

/** What `features build` reports (lib/features/build.ts), the part this step passes on. */
export interface BuildSummary {
  snapshotId: string;
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
}

export type BuildFeaturesFn = (request: {
  input: string;
  out: string;
  asOf?: string;
}) => Promise<BuildSummary>;

/** The build's two stages around an external engine (the Glue job), lib/features/build.ts. */
export interface FeatureStages {
  /** raw file -> DIR/raw_valid.parquet, quarantine.csv, prepared.json. */
  prepare(request: { input: string; out: string; asOf?: string }): Promise<PreparedInput>;
  /** prepared dir + the engine's Parquet directories -> a snapshot directory at `out`. */
  finish(request: {
    preparedDir: string;
    featuresDir: string;
    onlineDir: string;
    out: string;
  }): Promise<BuildSummary>;
}

export interface ExtractPorts {
  /** Where raw loan files land (RAW_BUCKET in AWS). */
  rawStore: ObjectStore;
  /** The offline store: snapshots, quarantine files, CURRENT (FEATURES_BUCKET in AWS). */
  featuresStore: ObjectStore;
  /** The online store (Aurora via the Data API in AWS, PGlite locally). */
  featureStore: FeatureStore;
  buildFeatures: BuildFeaturesFn;
  /** The prepare and finish stages (default: lib/features/build.ts with the given clock). */
  stages?: FeatureStages;
  /** Scratch directory (/tmp in Lambda). */
  tmpDir?: string;
  clock?: Clock;
  /** The registry: the publish guards check the snapshot has the columns its champion reads. */
  modelsStore?: ObjectStore;
  /** MODEL_NAME, PUBLISH_MIN_CUSTOMER_SHARE, PUBLISH_MAX_QUARANTINE_RATE (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface ExtractFeaturesResult extends BuildSummary {
  /** The raw key the snapshot was built from. */
  input: string;
  /** True when this snapshot was already published and current (a re-delivered event). */
  alreadyCurrent: boolean;
}

/** The resolve stage's answer: what the training machine merges into its config before the engine choice. */
export interface ResolvedInput {
  /** The raw object key the rest of the run reads (never a prefix). */
  input: string;
  sizeBytes: number;
  /** The input as given (a prefix, or the same key). */
  requestedInput: string;
}

export type StepLog = (message: string, fields: Record<string, unknown>) => void;

export class FeatureExtraction {
  constructor(
    private readonly ports: ExtractPorts,
    private readonly log: StepLog = () => undefined,
  ) {}

  /** The resolve stage: no download, one listing (or head) of the raw store. */
  async resolve(input: string): Promise<ResolvedInput> {
    const resolved = await resolveRawInput(this.ports.rawStore, input);
    const answer = { input: resolved.key, sizeBytes: resolved.sizeBytes, requestedInput: input };
    this.log(resolved.prefix ? 'raw prefix resolved to its newest file' : 'raw key checked', { ...answer });
    return answer;
  }

  /** The DuckDB build of a raw key (or the newest file under a prefix), then its publish. */
  build(
    key: string,
    asOf: string | undefined,
    publisher: string,
  ): Promise<{ result: ExtractFeaturesResult; onlineRows: number | null }> {
    return this.inScratch(async (work) => {
      const raw = await this.resolveRaw(key);
      const input = await this.downloadRaw(raw, work);
      const out = join(work, 'snapshot');
      const summary = await this.ports.buildFeatures({ input, out, ...(asOf ? { asOf } : {}) });
      return this.publish(out, summary, raw, publisher);
    });
  }

  /** The Glue branch's prepare stage: validate, stage raw_valid.parquet and the quarantine for the job. */
  prepare(key: string, asOf: string | undefined): Promise<StagedInput> {
    return this.inScratch(async (work) => {
      const raw = await this.resolveRaw(key);
      const input = await this.downloadRaw(raw, work);
      const preparedDir = join(work, 'prepared');
      const prepared = await this.stages().prepare({ input, out: preparedDir, ...(asOf ? { asOf } : {}) });
      const source = { key: raw, location: this.ports.rawStore.describe(raw) };
      const staged = await stagePreparedInput({
        store: this.ports.featuresStore,
        preparedDir,
        prepared,
        source,
      });
      this.log('input staged for the feature job', { ...staged });
      return staged;
    });
  }

  /** The Glue branch's publish stage: the job's Parquet -> the same snapshot as the DuckDB build -> published. */
  publishStaged(
    staging: string,
    publisher: string,
  ): Promise<{ result: ExtractFeaturesResult; onlineRows: number | null }> {
    return this.inScratch(async (work) => {
      const fetched = await fetchStagedOutput({
        store: this.ports.featuresStore,
        staging,
        dir: join(work, 'staged'),
      });
      const out = join(work, 'snapshot');
      const { preparedDir, featuresDir, onlineDir } = fetched;
      const summary = await this.stages().finish({ preparedDir, featuresDir, onlineDir, out });
      if (summary.snapshotId !== fetched.prepared.snapshotId) {
        throw new Error(
          `the finished snapshot is ${summary.snapshotId}, the staged input announced ${fetched.prepared.snapshotId}`,
        );
      }
      return this.publish(out, summary, fetched.prepared.source.key, publisher);
    });
  }

  private stages(): FeatureStages {
    return this.ports.stages ?? featureStages(this.ports.clock);
  }

  private async inScratch<T>(run: (work: string) => Promise<T>): Promise<T> {
    const work = await mkdtemp(join(this.ports.tmpDir ?? tmpdir(), 'extract-'));
    try {
      return await run(work);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** The raw key to read: itself, or for a prefix (`raw/`) the newest raw file under it. */
  private async resolveRaw(key: string): Promise<string> {
    const resolved = await resolveRawKey(this.ports.rawStore, key);
    if (resolved !== key) this.log('raw prefix resolved to its newest file', { prefix: key, key: resolved });
    return resolved;
  }

  /** The raw object downloaded into work (its own name kept: the build reads .csv or .parquet by it). */
  private async downloadRaw(key: string, work: string): Promise<string> {
    const input = join(work, 'input', basename(key) || 'raw.csv');
    if (!(await this.ports.rawStore.head(key))) {
      throw new InputError('RAW_NOT_FOUND', `raw file not found: ${this.ports.rawStore.describe(key)}`);
    }
    await this.ports.rawStore.download(key, input);
    return input;
  }

  /**
   * A refusal (PublishRefusedError, lib/features/publish-guards.ts) fails before anything is
   * written: the state machine's Catch notifies and serving stays as it was.
   */
  private async publish(
    out: string,
    summary: BuildSummary,
    input: string,
    publisher: string,
  ): Promise<{ result: ExtractFeaturesResult; onlineRows: number | null }> {
    const { featuresStore, modelsStore } = this.ports;
    const guards = await publishGuardsFor({ env: this.ports.env ?? process.env, featuresStore, modelsStore });
    const published = await publishSnapshot({
      snapshotDir: out,
      objectStore: this.ports.featuresStore,
      featureStore: this.ports.featureStore,
      clock: this.ports.clock,
      guards,
      publisher,
      reason: `built from ${input}`,
    });
    const { rowsIn, rowsValid, rowsQuarantined } = summary;
    const result = {
      snapshotId: published.snapshotId,
      rowsIn,
      rowsValid,
      rowsQuarantined,
      input,
      alreadyCurrent: published.alreadyCurrent,
    };
    return { result, onlineRows: published.onlineRows };
  }
}

/** The stages of lib/features/build.ts, sized like the build (`tuning`). */
export function featureStages(
  clock?: Clock,
  tuning: { threads?: number; memoryLimit?: string } = {},
): FeatureStages {
  return {
    prepare: ({ input, out, asOf }) => prepareFeatureInput({ input, outDir: out, asOf, clock, ...tuning }),
    async finish({ preparedDir, featuresDir, onlineDir, out }) {
      const built = await finishFeatureSnapshot({
        preparedDir,
        featuresDir,
        onlineDir,
        outDir: out,
        engine: 'spark',
        clock,
        ...tuning,
      });
      const { rowsIn, rowsValid, rowsQuarantined } = built.summary;
      return { snapshotId: built.snapshotId, rowsIn, rowsValid, rowsQuarantined };
    },
  };
}

/**
 * The BuildFeaturesFn over lib/features/build.ts (DuckDB), the same build `features build` runs.
 * `tuning` sizes DuckDB for the function (threads ~ vCPUs, memory below the function's memory).
 */
export function featureSqlBuild(
  clock?: Clock,
  tuning: { threads?: number; memoryLimit?: string } = {},
): BuildFeaturesFn {
  return async ({ input, out, asOf }) => {
    const built = await buildFeatures({ input, outDir: out, asOf, clock, ...tuning });
    const { rowsIn, rowsValid, rowsQuarantined } = built.summary;
    return { snapshotId: built.snapshotId, rowsIn, rowsValid, rowsQuarantined };
  };
}
