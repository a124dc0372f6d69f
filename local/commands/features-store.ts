import type { Command } from 'commander';
import { InputError } from '#lib/errors.ts';
import { lookupOnlineFeatures } from '#lib/features/online.ts';
import { publishSnapshot, readCurrentSnapshot } from '#lib/features/publish.ts';
import { createLocalRoot, type LocalRoot } from '../root.ts';

/**
 * `features publish`, `features get`, `features current`: the offline store (a directory with the
 * S3 key layout under the local home) and the online store (PGlite under the local home).
 */
export function registerStore(features: Command): void {
  features
    .command('publish')
    .summary('publish a built snapshot to the offline and online stores, atomically')
    .description(
      'publish a built snapshot: upload it to the offline store (features/snapshot=<id>/...), load its ' +
        'per-customer rows into the online store (staging, then a one-transaction swap), then point ' +
        'features/CURRENT at it. Safe to re-run: a finished step is not redone.',
    )
    .requiredOption(
      '--snapshot <dir>',
      'directory written by `credit-risk features build` (needs manifest.json)',
    )
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk features build --input loans.csv --out features/\n' +
        '  credit-risk features publish --snapshot features/\n' +
        '  credit-risk features publish --snapshot features/ --json | jq .snapshotId\n',
    )
    .action(async (opts: { snapshot: string; json?: boolean }) => {
      await withRoot(async (root) => {
        const started = performance.now();
        const result = await publishSnapshot({
          snapshotDir: opts.snapshot,
          objectStore: root.objectStore,
          featureStore: root.featureStore,
          clock: root.clock,
          onProgress: (m) => console.error(m),
        });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        if (opts.json) {
          console.log(JSON.stringify(result));
        } else if (result.alreadyCurrent) {
          console.error(`snapshot ${result.snapshotId} was already published and current; nothing to do`);
        } else {
          console.error(
            `published snapshot ${result.snapshotId} in ${seconds}s (offline + online, CURRENT swapped)`,
          );
        }
      });
    });

  features
    .command('get')
    .summary("one customer's online feature vector on a date, as JSON")
    .description(
      'the online feature vector of one customer: the features a new loan of that customer would get ' +
        'on the as-of date (all earlier loans count as previous, same-day loans do not), exactly what ' +
        '/predict feeds the model. Prints {id, asOf, snapshotId, features} as JSON.',
    )
    .requiredOption('--id <id>', 'customer id (the `id` column of the raw loans)')
    .option(
      '--as-of <date>',
      "request date YYYY-MM-DD (default: today, UTC); not before the customer's last loan",
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk features get --id 5008827\n' +
        '  credit-risk features get --id 5008827 --as-of 2024-01-31\n' +
        'Exit code 2 with UNKNOWN_CUSTOMER when the id is not in the published snapshot.\n',
    )
    .action(async (opts: { id: string; asOf?: string }) => {
      await withRoot(async (root) => {
        const snapshot = await root.featureStore.currentSnapshot();
        if (snapshot === undefined) {
          throw new InputError(
            'NO_SNAPSHOT',
            'the online store is empty: run `credit-risk features publish --snapshot DIR` first',
          );
        }
        const result = await lookupOnlineFeatures(
          root.featureStore,
          opts.id,
          opts.asOf ?? root.clock.today(),
        );
        console.log(JSON.stringify(result, null, 2));
      });
    });

  features
    .command('current')
    .description('which snapshot is current: the offline pointer (features/CURRENT) and the online store')
    .addHelpText('after', '\nExample:\n  credit-risk features current\n')
    .action(async () => {
      await withRoot(async (root) => {
        const offline = await readCurrentSnapshot(root.objectStore);
        const online = (await root.featureStore.currentSnapshot()) ?? null;
        console.log(JSON.stringify({ offline: offline ?? null, online }, null, 2));
      });
    });
}

/** Runs with the local root and always closes PGlite, so the process can exit. */
async function withRoot(run: (root: LocalRoot) => Promise<void>): Promise<void> {
  const root = createLocalRoot();
  try {
    await run(root);
  } finally {
    await root.featureStore.close();
  }
}
