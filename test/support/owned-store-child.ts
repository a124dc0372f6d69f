// A second process on a local online store, for the cross-process tests of
// lib/adapters/local/owned-pglite-feature-store.ts. argv: DATA_DIR ACTION [ARGS...]; prints one JSON
// line per step on stdout.
//   hold            use the store (becoming its owner if free), print {owner}, wait for SIGTERM, close
//   load ID N       load N rows as snapshot ID, print {rows, owner}, close
//   current         print {snapshotId, owner}, close
import { OwnedPgliteFeatureStore } from '#lib/adapters/local/owned-pglite-feature-store.ts';
import { testRow } from './feature-rows.ts';

const [dataDir, action, ...args] = process.argv.slice(2);
const store = OwnedPgliteFeatureStore.shared(dataDir, { command: `test-child ${action}` });
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (action === 'hold') {
  await store.init();
  say({ owner: await store.owner() });
  await new Promise<void>((r) => process.once('SIGTERM', () => r()));
  await store.close();
  say({ closed: true });
} else if (action === 'load') {
  const [id, n] = [args[0], Number(args[1])];
  const rows = Array.from({ length: n }, (_, i) => testRow(String(1000 + i), id, i + 1));
  const result = await store.replaceSnapshot(id, [rows]);
  say({ rows: result.rows, owner: await store.owner() });
  await store.close();
} else if (action === 'current') {
  say({ snapshotId: (await store.currentSnapshot()) ?? null, owner: await store.owner() });
  await store.close();
}
