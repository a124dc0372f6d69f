/**
 * The serve bench's data, built once per (customers, seed) and reused: a local home with features
 * published (PGlite online store + offline snapshot in the object store) and a model trained by
 * the project's trainer, registered and promoted; and the peers' side of the same data: the same
 * online rows in SQLite, a pickled scikit-learn RandomForestClassifier (default parameters)
 * trained on the same feature table, and the same model.onnx.
 *
 * Steps and what they use (the project's own code, as `credit-risk` runs it):
 *   loans      lib/data/generate.ts generateLoans (the raw schema, clean rows)
 *   features   lib/features/build.ts buildFeatures (validation, the feature SQL on DuckDB, online rows)
 *   publish    lib/features/publish.ts publishSnapshot into the home (PGlite + object store)
 *   model      lib/model/train.ts trainModel + writeModelDirectory, lib/registry register + promote
 *   peers      bench/peers/prepare_peers.py: SQLite from online.parquet, the random forest
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { publishSnapshot } from '#lib/features/publish.ts';
import { EXPLAINER_FILE } from '#lib/model/explainer-artifact.ts';
import { trainModel, writeModelDirectory } from '#lib/model/train.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { localHome } from '#local/home.ts';
import { createLocalRoot } from '#local/root.ts';

const repo = resolve(import.meta.dirname, '../..');

export interface PreparedData {
  /** CREDIT_RISK_HOME for `credit-risk serve`. */
  home: string;
  snapshotId: string;
  modelVersion: string;
  /** The registered model's directory (model.onnx + card.json), for the ONNX peer. */
  modelDir: string;
  /** The same online rows as the home's PGlite store, in SQLite. */
  sqlite: string;
  /** Pickled {model: RandomForestClassifier, features, threshold}. */
  forest: string;
  customers: number;
  loans: number;
  /** Customer ids in the online store (what the request mix asks for). */
  ids: string[];
  features: string[];
  seconds: { data: number; publish: number; train: number; peers: number };
  /** The scikit-learn that pickled the forest: a reused home whose forest another release pickled gets its peers prepared again. */
  peersSklearn?: string;
}

function sklearnVersion(python: string): string {
  return execFileSync(python, ['-c', 'import sklearn; print(sklearn.__version__)']).toString().trim();
}

/** The peers' SQLite online rows and their random forest (bench/peers/prepare_peers.py). */
function preparePeers(
  python: string,
  snapshotDir: string,
  out: { sqlite: string; forest: string },
  features: readonly string[],
  seed: number,
): void {
  execFileSync(
    python,
    [
      join(repo, 'bench/peers/prepare_peers.py'),
      join(snapshotDir, 'features.parquet'),
      join(snapshotDir, 'online.parquet'),
      out.sqlite,
      out.forest,
      JSON.stringify(features),
      String(seed),
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
}

/** Builds (or reuses) the prepared home for these parameters. Progress goes to stderr. */
export async function prepareServeData(options: {
  dir: string;
  rows: number;
  seed: number;
  python: string;
}): Promise<PreparedData> {
  const dir = resolve(options.dir);
  const doneFile = join(dir, 'prepared.json');
  if (existsSync(doneFile)) {
    const done = JSON.parse(readFileSync(doneFile, 'utf8')) as PreparedData;
    // A model prepared before explanations has no explainer.json: ours would answer without
    // reasons, which is not what serving does now, so such data is prepared again.
    if (done.loans === options.rows && existsSync(join(done.modelDir, EXPLAINER_FILE))) {
      console.error(`[serve bench] reusing prepared data in ${dir}`);
      const sklearn = sklearnVersion(options.python);
      if (done.peersSklearn !== sklearn) {
        console.error(
          `[serve bench] the peers' forest was pickled by scikit-learn ${done.peersSklearn ?? 'of an older .venv'}; preparing the peers again with ${sklearn}`,
        );
        preparePeers(options.python, join(dir, 'snapshot'), done, done.features, options.seed);
        done.peersSklearn = sklearn;
        writeFileSync(doneFile, JSON.stringify(done));
      }
      return done;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const snapshotDir = join(dir, 'snapshot');
  let t = performance.now();
  console.error(
    `[serve bench] generating ${options.rows} loans (lib/data) and building features (lib/features/build.ts)`,
  );
  const raw = join(dir, 'loans.csv');
  const generated = generateLoans({ rows: options.rows, seed: options.seed, out: raw });
  const built = await buildFeatures({
    input: raw,
    outDir: snapshotDir,
    onProgress: (m) => console.error(`[features] ${m}`),
  });
  const { snapshotId } = built;
  const loans = generated.rows;
  const dataSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  const home = localHome(join(dir, 'home'));
  const root = createLocalRoot(home);
  await publishSnapshot({
    snapshotDir,
    objectStore: root.objectStore,
    featureStore: root.featureStore,
    onProgress: (m) => console.error(`[publish] ${m}`),
  });
  const ids = [];
  for (const row of JSON.parse(
    execFileSync(
      options.python,
      [
        '-c',
        `import pyarrow.parquet as pq, json; print(json.dumps(pq.read_table(${JSON.stringify(join(snapshotDir, 'online.parquet'))}, columns=['id']).column('id').to_pylist()))`,
      ],
      {
        maxBuffer: 1 << 28,
      },
    ).toString(),
  ) as string[])
    ids.push(row);
  // PGlite allows one process per data directory: close it before `credit-risk serve` opens it.
  await root.featureStore.close();
  const publishSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  console.error(`[serve bench] training the GBDT on ${loans} loans (lib/model/train.ts)`);
  // Label, time and id columns come from the snapshot's manifest.json, as `credit-risk train` does.
  const trained = await trainModel({
    input: join(snapshotDir, 'features.parquet'),
    seed: options.seed,
    onProgress: (line) => console.error(`[train] ${line}`),
    progressEvery: 50,
  });
  const modelDir = join(dir, 'model');
  await writeModelDirectory(modelDir, trained);
  const registry = new ModelRegistry(root.objectStore);
  await registry.register({
    model: trained.modelBytes,
    card: readFileSync(join(modelDir, 'card.json')),
    report: readFileSync(join(modelDir, 'report.html')),
    explainer: trained.explainerBytes,
  });
  await registry.promote(trained.version, { why: 'serve bench champion' });
  const trainSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  console.error(
    '[serve bench] peers: SQLite online rows and the scikit-learn random forest (default parameters)',
  );
  const sqlite = join(dir, 'online.sqlite');
  const forest = join(dir, 'reference_rf.pkl');
  preparePeers(options.python, snapshotDir, { sqlite, forest }, trained.featureNames, options.seed);
  const peersSeconds = (performance.now() - t) / 1000;

  const prepared: PreparedData = {
    home: home.root,
    snapshotId,
    modelVersion: trained.version,
    modelDir,
    sqlite,
    forest,
    customers: generated.customers,
    loans,
    ids,
    features: trained.featureNames,
    seconds: { data: dataSeconds, publish: publishSeconds, train: trainSeconds, peers: peersSeconds },
    peersSklearn: sklearnVersion(options.python),
  };
  writeFileSync(doneFile, JSON.stringify(prepared));
  return prepared;
}
