import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { readCurrentSnapshot, snapshotKeys } from '#lib/features/publish.ts';
import { compareModels, type ComparedModel, type Comparison } from '#lib/model/compare.ts';
import { DEFAULT_SPLIT_FRACTIONS, outOfTimeSplit, type SplitFractions } from '#lib/model/split.ts';
import { isoDay, readTable, type Table } from '#lib/model/table.ts';
import { readManifestNextTo } from '#lib/model/train.ts';
import { checkTarget, protectedGroups } from '#lib/model/train-stages.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { cardEssentials, type OnnxScorer } from './candidate.ts';
import type { ModelRegistry } from './registry.ts';

/**
 * `credit-risk models compare A B`: both versions scored on the same rows, the out-of-time tail
 * of a feature snapshot (the current one by default; docs/adr/0144). The tail is the last
 * `test` fraction by time, cut as the trainer cuts it, with the newer model's fractions: on the
 * snapshot the newer model trained on, these are exactly its test rows, which neither model
 * trained on when the older one trained on an older snapshot. A model whose training or
 * validation period reaches into the rows gets a warning (its figures are optimistic).
 */
export async function compareVersions(options: {
  registry: ModelRegistry;
  featuresStore: ObjectStore;
  a: string;
  b: string;
  score: OnnxScorer;
  tmpDir: string;
  /** A local table (with its manifest.json beside it) instead of a stored snapshot. */
  input?: string;
  /** A stored snapshot instead of the current one. */
  snapshotId?: string;
}): Promise<Comparison> {
  const { registry } = options;
  const [ra, rb] = [await registry.card(options.a), await registry.card(options.b)];
  if (ra.version === rb.version)
    throw new InputError(
      'SAME_VERSION',
      `${options.a} and ${options.b} are the same version ${ra.version.slice(0, 12)}`,
    );
  const createdAt = (c: Record<string, unknown>) => (typeof c.createdAt === 'string' ? c.createdAt : null);
  const newer = (createdAt(rb.card) ?? '') >= (createdAt(ra.card) ?? '') ? rb : ra;

  const work = join(options.tmpDir, `compare-${randomUUID()}`);
  await mkdir(work, { recursive: true });
  try {
    let path: string;
    let description: string;
    if (options.input) {
      path = options.input;
      description = `the out-of-time tail of ${options.input}`;
    } else {
      const snapshotId = options.snapshotId ?? (await readCurrentSnapshot(options.featuresStore))?.snapshotId;
      if (!snapshotId)
        throw new InputError(
          'NO_SNAPSHOT',
          'no current feature snapshot to compare on: publish one (credit-risk features publish) or pass --input FILE',
        );
      const keys = snapshotKeys(snapshotId);
      path = join(work, 'features.parquet');
      if (!(await options.featuresStore.head(keys.part)))
        throw new InputError('UNKNOWN_SNAPSHOT', `snapshot ${snapshotId} has no ${keys.part}`);
      await options.featuresStore.download(keys.part, path);
      if (await options.featuresStore.head(keys.manifest))
        await options.featuresStore.download(keys.manifest, join(work, 'manifest.json'));
      description = `the out-of-time tail of snapshot ${snapshotId}`;
    }
    const manifest = readManifestNextTo(path);
    const table = await readTable(path);
    const target = manifest?.label ?? (typeof newer.card.target === 'string' ? newer.card.target : 'status');
    const y = checkTarget(table, target, path);
    const split = newer.card.split as { timeColumn?: string | null; fractions?: SplitFractions } | undefined;
    const timeColumn = manifest?.time ?? split?.timeColumn ?? null;
    const fractions = split?.fractions ?? DEFAULT_SPLIT_FRACTIONS;
    const times = timeColumn ? table.columns.get(timeColumn) : undefined;
    let rows: Uint32Array;
    let from: string | undefined;
    let to: string | undefined;
    if (times && times.kind !== 'text') {
      rows = outOfTimeSplit(times.values, fractions, timeColumn as string).test;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const r of rows) {
        lo = Math.min(lo, times.values[r]);
        hi = Math.max(hi, times.values[r]);
      }
      [from, to] = times.kind === 'date' ? [isoDay(lo), isoDay(hi)] : [String(lo), String(hi)];
    } else {
      rows = Uint32Array.from({ length: table.numRows }, (_, i) => i);
      description = description.replace('the out-of-time tail of', 'every row of');
    }
    const labels = Uint8Array.from(rows, (r) => y[r]);

    const scored = async (r: { version: string; card: Record<string, unknown> }): Promise<ComparedModel> => {
      const { threshold, features } = cardEssentials(r.card, `version ${r.version.slice(0, 12)}`);
      const matrix = featureMatrix(table, features, rows, r.version, path);
      const p = await options.score(
        await registry.modelBytes(r.version),
        matrix,
        rows.length,
        features.length,
      );
      return { version: r.version, createdAt: createdAt(r.card), threshold, p, card: r.card };
    };
    const a = await scored(ra);
    const b = await scored(rb);

    const settings = (newer.card.lineage as { settings?: { protectedColumns?: string[] } } | undefined)
      ?.settings;
    const protectedColumns = manifest?.protected.length
      ? manifest.protected
      : (settings?.protectedColumns ?? []);
    const groups = protectedGroups(table, protectedColumns, rows);
    const warnings: string[] = [];
    for (const m of [ra, rb]) {
      const validTo = (m.card.split as { valid?: { to?: string } } | undefined)?.valid?.to;
      if (from && validTo && validTo >= from)
        warnings.push(
          `${m.version.slice(0, 12)} trained or validated on loans up to ${validTo}, inside these rows (${from}..${to}): its figures are optimistic`,
        );
    }
    return compareModels({ a, b, y: labels, groups, rows: { description, from, to }, warnings });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function featureMatrix(
  table: Table,
  features: string[],
  rows: Uint32Array,
  version: string,
  path: string,
): Float32Array {
  const F = features.length;
  const out = new Float32Array(rows.length * F);
  features.forEach((name, j) => {
    const col = table.columns.get(name);
    if (!col || col.kind === 'text')
      throw new InputError(
        'MISSING_FEATURE',
        `version ${version.slice(0, 12)} needs the numeric column ${name}, which ${path} does not have: compare on a snapshot that has it (--snapshot ID or --input FILE)`,
      );
    rows.forEach((r, i) => (out[i * F + j] = col.values[r]));
  });
  return out;
}
