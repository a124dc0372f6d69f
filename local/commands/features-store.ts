import type { Command } from 'commander';
import { hostname, userInfo } from 'node:os';
import { InputError } from '#lib/errors.ts';
import { championRequirement } from '#lib/features/champion-requirement.ts';
import { lookupOnlineFeatures } from '#lib/features/online.ts';
import {
  publishSnapshot,
  publishStoredSnapshot,
  readCurrentSnapshot,
  rollbackSnapshot,
  type PublishGuardOptions,
  type PublishResult,
} from '#lib/features/publish.ts';
import {
  DEFAULT_MAX_QUARANTINE_RATE,
  DEFAULT_MIN_CUSTOMER_SHARE,
  parseGuardPolicy,
} from '#lib/features/publish-guards.ts';
import { snapshotHistory, type SnapshotHistoryRow } from '#lib/features/snapshot-history.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { createLocalRoot, type LocalRoot } from '../root.ts';

/**
 * `features publish`, `features get`, `features current`, `features history`, `features rollback`:
 * the offline store (a directory with the S3 key layout under the local home) and the online
 * store (PGlite under the local home).
 */
export function registerStore(features: Command): void {
  features
    .command('publish')
    .summary('publish a snapshot to the offline and online stores, guarded and audited')
    .description(
      'publish a snapshot: upload it to the offline store (features/snapshot=<id>/...), load its ' +
        'per-customer rows into the online store (staging, then a one-transaction swap), then point ' +
        'features/CURRENT at it. Safe to re-run: a finished step is not redone.\n\n' +
        'Guards run first and refuse (exit 2, PUBLISH_REFUSED, nothing written, serving unchanged) a ' +
        'snapshot that would break serving: no valid customers; fewer customers than ' +
        '--min-customer-share of the current snapshot; columns the champion model reads missing or of ' +
        'another type; a quarantine rate above --max-quarantine-rate. --force publishes anyway and ' +
        'the audit log (credit-risk features history) records what was overridden.\n\n' +
        '--id republishes a snapshot already in the offline store (see credit-risk features history).',
    )
    .option(
      '--snapshot <dir>',
      'directory written by `credit-risk features build`, or a stored snapshot folder',
    )
    .option('--id <snapshot>', 'a snapshot already in the offline store, made current again')
    .option(
      '--min-customer-share <share>',
      `refuse a snapshot with fewer customers than this share of the current one's, 0..1 (default ${DEFAULT_MIN_CUSTOMER_SHARE})`,
    )
    .option(
      '--max-quarantine-rate <rate>',
      `refuse a build that quarantined more than this share of its rows, 0..1 (default ${DEFAULT_MAX_QUARANTINE_RATE})`,
    )
    .option('--force', 'publish even when a guard refuses (audited, with the reasons overridden)')
    .option('--reason <text>', 'why, for the audit log')
    .option('--name <model>', 'registered model whose champion the columns guard checks', DEFAULT_MODEL_NAME)
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk features build --input loans.csv --out features/\n' +
        '  credit-risk features publish --snapshot features/\n' +
        '  credit-risk features publish --snapshot features/ --json | jq .snapshotId\n' +
        '  credit-risk features publish --snapshot features/ --max-quarantine-rate 0.3 --min-customer-share 0.2\n' +
        '  credit-risk features publish --snapshot features/ --force --reason "new market, fewer customers"\n' +
        '  credit-risk features publish --id 31399d39e41731f8     # a stored snapshot, again\n' +
        'Exit code 2 with PUBLISH_REFUSED and every reason when a guard refuses.\n',
    )
    .action(async (opts: PublishFlags) => {
      if ((opts.snapshot === undefined) === (opts.id === undefined)) {
        throw new InputError('BAD_ARGUMENTS', 'give either --snapshot DIR or --id SNAPSHOT (one of them)');
      }
      const guards = guardOptions(opts);
      await withRoot(async (root) => {
        const started = performance.now();
        const common = {
          objectStore: root.objectStore,
          featureStore: root.featureStore,
          clock: root.clock,
          onProgress: (m: string) => console.error(m),
          guards: { ...guards, champion: await championOf(root, opts.name) },
          publisher: publisher(),
          reason: opts.reason,
        };
        const result =
          opts.id !== undefined
            ? await publishStoredSnapshot({ ...common, snapshotId: opts.id, tmpDir: root.home.tmp })
            : await publishSnapshot({ ...common, snapshotDir: opts.snapshot as string });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        if (opts.json) {
          console.log(JSON.stringify(result));
        } else if (result.alreadyCurrent) {
          console.error(`snapshot ${result.snapshotId} was already published and current; nothing to do`);
        } else {
          console.error(
            `published snapshot ${result.snapshotId} in ${seconds}s (offline + online, CURRENT swapped)` +
              forcedNote(result),
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

  features
    .command('history')
    .summary('published snapshots, newest first, from the audit log')
    .description(
      'every publish, forced publish and rollback of the feature snapshot pointer, newest first, from ' +
        'the audit log (features/audit/<seq>.json in the offline store): time, snapshot id, action, ' +
        'feature rows, customers, quarantined rows, publisher. `*` marks the snapshot CURRENT names.',
    )
    .option('--json', 'print the rows as JSON on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk features history\n' +
        "  credit-risk features history --json | jq '.[] | select(.forced)'\n",
    )
    .action(async (opts: { json?: boolean }) => {
      // The history reads the offline store only: no online store to open.
      const root = createLocalRoot();
      const rows = await snapshotHistory(root.objectStore, await readCurrentSnapshot(root.objectStore));
      if (opts.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        console.log('no snapshot has been published');
        return;
      }
      console.log(historyTable(rows));
    });

  features
    .command('rollback')
    .summary('point the online store and CURRENT back to an earlier snapshot, audited')
    .description(
      "roll the feature snapshot back: load an earlier stored snapshot's online rows into the online " +
        'store (staging, then a one-transaction swap), then point features/CURRENT at it, and audit ' +
        'it. Without --to, the target is the snapshot that was current before the current one (from ' +
        'the audit log; rolling back twice goes two publishes back). A target without customers, or ' +
        'without the columns the champion model reads, is refused (exit 2, PUBLISH_REFUSED) unless ' +
        '--force. A snapshot published before publishes kept its online rows cannot be restored ' +
        '(SNAPSHOT_NOT_RESTORABLE): build it again.',
    )
    .option('--to <snapshot>', 'the stored snapshot to go back to (default: the one before the current one)')
    .option('--reason <text>', 'why, for the audit log', 'rolled back from the command line')
    .option('--force', 'roll back even when a guard refuses (audited, with the reasons overridden)')
    .option('--name <model>', 'registered model whose champion the columns guard checks', DEFAULT_MODEL_NAME)
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk features rollback\n' +
        '  credit-risk features rollback --to 31399d39e41731f8 --reason "bad upstream file"\n' +
        '  credit-risk features history          # what there is to go back to\n',
    )
    .action(async (opts: { to?: string; reason: string; force?: boolean; name: string; json?: boolean }) => {
      await withRoot(async (root) => {
        const before = (await readCurrentSnapshot(root.objectStore))?.snapshotId ?? null;
        const result = await rollbackSnapshot({
          objectStore: root.objectStore,
          featureStore: root.featureStore,
          clock: root.clock,
          onProgress: (m) => console.error(m),
          guards: { force: opts.force === true, champion: await championOf(root, opts.name) },
          publisher: publisher(),
          reason: opts.reason,
          tmpDir: root.home.tmp,
          ...(opts.to !== undefined ? { to: opts.to } : {}),
        });
        if (opts.json) {
          console.log(JSON.stringify(result));
        } else if (result.alreadyCurrent) {
          console.error(`snapshot ${result.snapshotId} is already current; nothing to roll back`);
        } else {
          console.error(
            `rolled back ${before ?? '(none)'} -> ${result.snapshotId} (online store and CURRENT)` +
              forcedNote(result),
          );
        }
      });
    });
}

interface PublishFlags {
  snapshot?: string;
  id?: string;
  minCustomerShare?: string;
  maxQuarantineRate?: string;
  force?: boolean;
  reason?: string;
  name: string;
  json?: boolean;
}

function guardOptions(opts: PublishFlags): Omit<PublishGuardOptions, 'champion'> {
  return {
    policy: parseGuardPolicy({
      minCustomerShare: opts.minCustomerShare,
      maxQuarantineRate: opts.maxQuarantineRate,
    }),
    force: opts.force === true,
  };
}

/** What the champion reads (null without one): the guard input publish.ts takes as plain data. */
async function championOf(root: LocalRoot, name: string) {
  return championRequirement(new ModelRegistry(root.objectStore, { name }), root.objectStore);
}

/** `user@host: credit-risk <arguments>`, for the audit log. */
function publisher(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the user stays "unknown".
  }
  return `${user}@${hostname()}: credit-risk ${process.argv.slice(2).join(' ')}`;
}

function forcedNote(result: PublishResult): string {
  const o = result.guards.overridden;
  return o.length === 0 ? '' : `, FORCED past ${o.map((r) => r.guard).join(', ')} (audited)`;
}

function historyTable(rows: SnapshotHistoryRow[]): string {
  const n = (v: number | null) => (v === null ? '-' : v.toLocaleString('en-US'));
  const table = [['', 'AT', 'SNAPSHOT', 'ACTION', 'ROWS', 'CUSTOMERS', 'QUARANTINED', 'PUBLISHER']];
  for (const r of rows) {
    // An erase is always forced past what its guards said (lib/features/publish.ts): not news.
    const action =
      r.forced && r.action !== 'erase' ? (r.action === 'publish' ? 'forced' : 'forced rollback') : r.action;
    table.push([
      r.current ? '*' : '',
      r.at,
      r.snapshotId,
      r.audited ? action : `${action} (not audited)`,
      n(r.rows),
      n(r.customers),
      n(r.quarantined),
      r.publisher ?? '-',
    ]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  return table
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
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
