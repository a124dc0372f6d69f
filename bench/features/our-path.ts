/**
 * One run of our path, in its own process so that its wall time and peak RSS are measured like
 * the peers': validate + features (DuckDB) + Parquet + online.parquet (features build), then the
 * online load into the local online store (PGlite, the same call `features publish` makes).
 * usage: node bin/run-ts.mjs bench/features/our-path.ts INPUT OUTDIR PGLITE_DIR AS_OF
 * prints {"startMs", "buildMs": {...per step}, "storeOpenMs", "onlineLoadMs", "rows", "customers"} on stdout.
 * A new PGlite directory is copied from the machine's initdb template (built on first use, see
 * lib/adapters/local/pglite-feature-store.ts); the bench builds that template before timing.
 */
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { readOnlineRows } from '#lib/features/snapshot-reader.ts';

// Milliseconds from process start to here: node, tsx (transpiling on load) and the imports
// (DuckDB's native module, PGlite), which the step timings below do not see.
const startMs = Math.round(performance.now());
const [input, outDir, pgliteDir, asOf] = process.argv.slice(2);
const built = await buildFeatures({ input, outDir, asOf });
const file = `${outDir}/online.parquet`;
// The process's peak RSS so far (kernel high-water mark), to tell which half sets the peak.
const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const peakAfterBuildMiB = peakRssMiB();
const rssAfterBuildMiB = Math.round(process.memoryUsage.rss() / 2 ** 20);

let t0 = performance.now();
const store = new PgliteFeatureStore(pgliteDir);
await store.init();
const storeOpenMs = Math.round(performance.now() - t0);

t0 = performance.now();
const loaded = store.replaceSnapshotFromParquet
  ? await store.replaceSnapshotFromParquet(built.snapshotId, file)
  : await store.replaceSnapshot(built.snapshotId, readOnlineRows(file, built.snapshotId));
const onlineLoadMs = Math.round(performance.now() - t0);
await store.close();

console.log(
  JSON.stringify({
    startMs,
    buildMs: built.manifest.timingsMs,
    storeOpenMs,
    onlineLoadMs,
    rssMiB: { peakAfterBuild: peakAfterBuildMiB, afterBuild: rssAfterBuildMiB, peakAtEnd: peakRssMiB() },
    rows: built.summary.rowsValid,
    customers: loaded.rows,
  }),
);
