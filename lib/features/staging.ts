import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { PREPARED_FILES, PREPARED_VERSION, type PreparedInput } from './build.ts';
import { STAGING_PREFIX } from './offline-layout.ts';

/**
 * The features bucket's `staging/` prefix: where the Glue branch of the training machine keeps
 * what passes between its three steps (prepare Lambda -> Glue job -> publish Lambda).
 *
 *   staging/<snapshotId>/raw_valid.parquet        the validated rows (the job's --input)
 *   staging/<snapshotId>/quarantine.csv           the rows validation refused
 *   staging/<snapshotId>/prepared.json            written LAST by prepare: summary, as-of, source
 *   staging/<snapshotId>/spark/features/*.parquet the job's output (--output staging/<id>/spark/)
 *   staging/<snapshotId>/spark/online/*.parquet
 *
 * The prefix is content-addressed: the snapshot id is known as soon as validation is done (it is
 * derived from the input's hash, the feature code, the as-of date and the validation outcome),
 * so a retried or resumed execution, or a second execution on the same file, writes the same
 * bytes to the same keys and nothing is computed under two names. Staging is scratch: a
 * lifecycle rule expires it (infra/resources/storage.yml); the published snapshot is the artifact.
 */
export { STAGING_PREFIX } from './offline-layout.ts';

/** `staging/<16 hex>/`, the only shape a publish request may name. */
const STAGING_KEY = /^staging\/([0-9a-f]{16})\/$/;

/** Where the Glue job writes (its --output); features/ and online/ below it. */
const ENGINE_OUTPUT = 'spark/';

export interface StagingKeys {
  prefix: string;
  rawValid: string;
  quarantine: string;
  prepared: string;
  engineOutput: string;
  features: string;
  online: string;
}

export function stagingKeys(snapshotId: string): StagingKeys {
  const prefix = `${STAGING_PREFIX}${snapshotId}/`;
  return stagingKeysOf(prefix);
}

function stagingKeysOf(prefix: string): StagingKeys {
  return {
    prefix,
    rawValid: `${prefix}${PREPARED_FILES.rawValid}`,
    quarantine: `${prefix}${PREPARED_FILES.quarantine}`,
    prepared: `${prefix}${PREPARED_FILES.prepared}`,
    engineOutput: `${prefix}${ENGINE_OUTPUT}`,
    features: `${prefix}${ENGINE_OUTPUT}features/`,
    online: `${prefix}${ENGINE_OUTPUT}online/`,
  };
}

/** A staging prefix from a request, checked: `staging/<16 hex>/` and nothing else. */
export function parseStagingPrefix(staging: string): StagingKeys {
  if (!STAGING_KEY.test(staging)) {
    throw new InputError(
      'BAD_STAGING',
      `staging must be "staging/<snapshot id>/" as the prepare stage answers, got ${JSON.stringify(staging)}`,
    );
  }
  return stagingKeysOf(staging);
}

/** prepared.json as staged: the prepare stage's record plus where the raw input came from. */
export interface StagedPrepared extends PreparedInput {
  /** The raw object the input was downloaded from (the store's description, e.g. s3://bucket/key). */
  source: { key: string; location: string };
}

/** What the prepare step answers (the state machine passes the keys to the Glue job). */
export interface StagedInput {
  staging: string;
  snapshotId: string;
  asOf: string;
  rawValidKey: string;
  engineOutputKey: string;
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
}

/**
 * Uploads a prepared directory to its staging prefix, prepared.json last: a prefix without it is
 * not staged (publish refuses it), so a crash half way leaves nothing a later step would trust.
 */
export async function stagePreparedInput(options: {
  store: ObjectStore;
  preparedDir: string;
  prepared: PreparedInput;
  source: { key: string; location: string };
}): Promise<StagedInput> {
  const { store, preparedDir, prepared } = options;
  const keys = stagingKeys(prepared.snapshotId);
  await store.upload(join(preparedDir, PREPARED_FILES.rawValid), keys.rawValid, {
    contentType: 'application/vnd.apache.parquet',
  });
  await store.upload(join(preparedDir, PREPARED_FILES.quarantine), keys.quarantine, {
    contentType: 'text/csv',
  });
  const staged: StagedPrepared = { ...prepared, source: options.source };
  await store.put(keys.prepared, `${JSON.stringify(staged, null, 2)}\n`, { contentType: 'application/json' });
  const { rowsIn, rowsValid, rowsQuarantined } = prepared.validation;
  return {
    staging: keys.prefix,
    snapshotId: prepared.snapshotId,
    asOf: prepared.asOf,
    rawValidKey: keys.rawValid,
    engineOutputKey: keys.engineOutput,
    rowsIn,
    rowsValid,
    rowsQuarantined,
  };
}

export interface FetchedStaging {
  prepared: StagedPrepared;
  /** Holds prepared.json and quarantine.csv (the finish stage's preparedDir). */
  preparedDir: string;
  featuresDir: string;
  onlineDir: string;
}

/** Downloads what the finish stage needs from a staging prefix into dir. */
export async function fetchStagedOutput(options: {
  store: ObjectStore;
  staging: string;
  dir: string;
}): Promise<FetchedStaging> {
  const { store, dir } = options;
  const keys = parseStagingPrefix(options.staging);
  if (!(await store.head(keys.prepared))) {
    throw new InputError(
      'STAGING_NOT_FOUND',
      `${store.describe(keys.prepared)} not found: run the prepare stage first (or the staging prefix expired)`,
    );
  }
  const preparedDir = join(dir, 'prepared');
  mkdirSync(preparedDir, { recursive: true });
  await store.download(keys.prepared, join(preparedDir, PREPARED_FILES.prepared));
  await store.download(keys.quarantine, join(preparedDir, PREPARED_FILES.quarantine));
  const prepared = JSON.parse(
    readFileSync(join(preparedDir, PREPARED_FILES.prepared), 'utf8'),
  ) as StagedPrepared;
  if (
    prepared.preparedVersion !== PREPARED_VERSION ||
    `${STAGING_PREFIX}${prepared.snapshotId}/` !== keys.prefix
  ) {
    throw new Error(
      `${store.describe(keys.prepared)} does not describe ${keys.prefix} (version ${String(prepared.preparedVersion)}, snapshot ${prepared.snapshotId})`,
    );
  }
  const download = async (prefix: string, name: string): Promise<string> => {
    const target = join(dir, name);
    mkdirSync(target, { recursive: true });
    // Spark also writes _SUCCESS (and, on a file system, .crc files): only the Parquet parts matter.
    const parts = (await store.list(prefix)).filter(
      (o) => o.key.endsWith('.parquet') && !/^[._]/.test(basename(o.key)),
    );
    if (parts.length === 0) {
      throw new Error(
        `no Parquet part files under ${store.describe(prefix)}: the feature job wrote no output there`,
      );
    }
    for (const part of parts) await store.download(part.key, join(target, basename(part.key)));
    return target;
  };
  return {
    prepared,
    preparedDir,
    featuresDir: await download(keys.features, 'features'),
    onlineDir: await download(keys.online, 'online'),
  };
}
