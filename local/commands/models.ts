import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { expireCanary } from '#lib/deploy/canary-steps.ts';
import { InputError } from '#lib/errors.ts';
import { comparisonHtml, comparisonText } from '#lib/model/compare.ts';
import { scoreOnnxBytes } from '#lib/model/onnx-runtime.ts';
import {
  canaryDeadline,
  canaryExpired,
  DEFAULT_CANARY_DEADLINE_MINUTES,
  MAX_CANARY_DEADLINE_MINUTES,
} from '#lib/registry/aliases.ts';
import type { AuditEntry } from '#lib/registry/audit.ts';
import { compareVersions } from '#lib/registry/compare-versions.ts';
import { readModelDirectory } from '#lib/registry/model-directory.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, shortId } from '#lib/registry/registry.ts';
import { aliasLine, cliActor, deadlineText, reportChange, short } from '#local/registry-view.ts';
import { createLocalRoot } from '#local/root.ts';

interface CommonOptions {
  name: string;
  json?: boolean;
}

function openRegistry(options: CommonOptions): {
  registry: ModelRegistry;
  describe: (key: string) => string;
  root: ReturnType<typeof createLocalRoot>;
} {
  const root = createLocalRoot();
  return {
    registry: new ModelRegistry(root.objectStore, {
      name: options.name,
      clock: root.clock,
      actor: cliActor(),
    }),
    describe: (key) => root.objectStore.describe(key),
    root,
  };
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const json = (value: unknown) => out(JSON.stringify(value, null, 2));
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function parseDeadlineMinutes(raw: string): number {
  const m = Number(raw);
  if (raw.trim() === '' || !(m > 0 && m <= MAX_CANARY_DEADLINE_MINUTES))
    throw new InputError(
      'BAD_CANARY_DEADLINE',
      `--deadline-minutes must be a number in (0, ${MAX_CANARY_DEADLINE_MINUTES}], got ${JSON.stringify(raw)}`,
    );
  return m;
}

function parseWeight(raw: string): number {
  const w = Number(raw);
  if (!(w > 0 && w <= 1))
    throw new InputError(
      'BAD_CANARY_WEIGHT',
      `--weight must be a number in (0, 1], got ${JSON.stringify(raw)}`,
    );
  return w;
}

export function register(program: Command): void {
  const models = program
    .command('models')
    .description('the model registry: register trained models, list and inspect versions, promote, roll back')
    .addHelpText(
      'after',
      `
Versions are the sha256 of model.onnx; any unique prefix (4+ hex digits) or "champion"/"canary" works
wherever a VERSION is asked. Every alias change is written to the audit log (models history).
A canary has a deadline: past it, credit-risk serve sends it nothing (all traffic to the champion)
and models expire-canary (or the next pipeline canary) clears it from the registry, audited.
These commands move the local registry, which credit-risk serve routes by; in AWS the same moves
are credit-risk aws models promote|rollback (they move the predict function's alias too).

Examples:
  credit-risk train --input features.parquet --target status --out model/
  credit-risk models register model/
  credit-risk models list
  credit-risk models show champion
  credit-risk models promote 3fa9c2e1
  credit-risk models canary 3fa9c2e1 --weight 0.1 --deadline-minutes 30
  credit-risk models rollback --reason "p99 latency doubled"
  credit-risk models compare champion 3fa9c2e1 --html compare.html
  credit-risk models history --json`,
    );

  const withCommon = (cmd: Command) =>
    cmd
      .option('--name <name>', 'model name in the registry', DEFAULT_MODEL_NAME)
      .option('--json', 'print a machine-readable result on stdout');

  withCommon(
    models
      .command('register')
      .argument(
        '<dir>',
        'a directory with model.onnx, card.json and report.html (from credit-risk train --out)',
      )
      .description(
        'register a trained model directory; prints its version (registering the same model again is a no-op)',
      )
      .option('--reason <text>', 'why, for the audit log', 'registered from the command line'),
  ).action(async (dir: string, options: CommonOptions & { reason: string }) => {
    const { registry, describe } = openRegistry(options);
    const artifacts = await readModelDirectory(dir);
    const result = await registry.register(artifacts, { why: options.reason });
    if (options.json) {
      json({ ...result, report: describe(registry.reportKey(result.version)) });
      return;
    }
    process.stderr.write(
      result.created
        ? `registered ${registry.name} ${shortId(result.version)}\n`
        : `already registered: ${registry.name} ${shortId(result.version)} (nothing written)\n`,
    );
    out(result.version);
  });

  withCommon(
    models.command('list').description('registered versions, oldest first, with test AUC and aliases'),
  ).action(async (options: CommonOptions) => {
    const { registry, root } = openRegistry(options);
    const versions = await registry.list();
    if (options.json) {
      json({ name: registry.name, aliases: await registry.aliases(), versions });
      return;
    }
    if (versions.length === 0) {
      out(`no versions registered under ${registry.name} (credit-risk models register DIR)`);
      return;
    }
    const rows = [['VERSION', 'REGISTERED', 'TEST AUC', 'SNAPSHOT', 'ALIASES']];
    for (const v of versions) {
      rows.push([
        v.shortId,
        v.registeredAt ?? '-',
        v.auc === null ? '-' : v.auc.toFixed(4),
        v.featureSnapshot ?? '-',
        v.aliases.join(',') || '-',
      ]);
    }
    out(table(rows));
    out(aliasLine(await registry.aliases(), root.clock.now()));
  });

  withCommon(
    models
      .command('show')
      .argument('<version>', 'a version, a unique prefix, champion or canary')
      .description("one version's card, aliases and where its files are"),
  ).action(async (ref: string, options: CommonOptions) => {
    const { registry, describe, root } = openRegistry(options);
    const { version, card } = await registry.card(ref);
    const aliases = await registry.aliases();
    const now = root.clock.now();
    const deadline = canaryDeadline(aliases);
    const canary =
      aliases.canary?.version === version
        ? {
            weight: aliases.canary.weight,
            deadline: deadline && Number.isFinite(deadline.getTime()) ? deadline.toISOString() : null,
            expired: canaryExpired(aliases, now),
          }
        : null;
    const files = {
      model: describe(registry.modelKey(version)),
      card: describe(registry.cardKey(version)),
      report: describe(registry.reportKey(version)),
    };
    const roles = [
      aliases.champion === version && 'champion',
      aliases.canary?.version === version && 'canary',
    ].filter(Boolean);
    if (options.json) {
      json({ name: registry.name, version, aliases: roles, canary, files, card });
      return;
    }
    out(`${registry.name} ${version}`);
    out(`aliases: ${roles.join(', ') || '-'}`);
    if (canary) out(`canary: weight ${canary.weight}, ${deadlineText(aliases, now)}`);
    for (const [k, v] of Object.entries(files)) out(`${k}: ${v}`);
    out(JSON.stringify(card, null, 2));
  });

  withCommon(
    models
      .command('promote')
      .argument('<version>', 'a version, a unique prefix, or canary')
      .description('make a version the champion (the old champion is kept for rollback; any canary ends)')
      .option('--reason <text>', 'why, for the audit log', 'promoted from the command line'),
  ).action(async (ref: string, options: CommonOptions & { reason: string }) => {
    const { registry, root } = openRegistry(options);
    reportChange(options, await registry.promote(ref, { why: options.reason }), root.clock.now());
  });

  withCommon(
    models
      .command('canary')
      .argument('<version>', 'a version or a unique prefix')
      .description('send a share of the traffic to a version beside the champion')
      .requiredOption('--weight <share>', 'share of traffic in (0, 1], e.g. 0.1')
      .option(
        '--deadline-minutes <m>',
        `after this many minutes the canary gets no traffic and is cleared (at most ${MAX_CANARY_DEADLINE_MINUTES}, a week)`,
        String(DEFAULT_CANARY_DEADLINE_MINUTES),
      )
      .option('--reason <text>', 'why, for the audit log', 'canary from the command line'),
  ).action(
    async (
      ref: string,
      options: CommonOptions & { weight: string; deadlineMinutes: string; reason: string },
    ) => {
      const weight = parseWeight(options.weight);
      const minutes = parseDeadlineMinutes(options.deadlineMinutes);
      const { registry, root } = openRegistry(options);
      const now = root.clock.now();
      const deadline = new Date(now.getTime() + minutes * 60_000);
      reportChange(options, await registry.setCanary(ref, weight, { why: options.reason, deadline }), now);
    },
  );

  withCommon(
    models
      .command('expire-canary')
      .alias('expire-canaries')
      .description(
        "clear the canary if its deadline has passed (audited 'canary expired'); a canary still within its deadline is left alone",
      ),
  ).action(async (options: CommonOptions) => {
    const { registry, root } = openRegistry(options);
    // The local alias table (builds/alias-live.json) is moved first, as the canary function
    // moves the Lambda alias first in AWS.
    const result = await expireCanary({
      registry,
      deployer: AliasTableDeployer.inBuilds(root.home.builds, () => root.clock.now()),
      clock: root.clock,
    });
    if (options.json) {
      json({ ...result, aliases: await registry.aliases() });
      return;
    }
    if (!result.canary) out('no canary');
    else if (result.expired)
      out(`canary ${shortId(result.canary.version)} expired at ${result.canary.deadline}: cleared`);
    else out(`canary ${shortId(result.canary.version)} runs until ${result.canary.deadline}: left alone`);
    out(aliasLine(await registry.aliases(), root.clock.now()));
  });

  withCommon(
    models
      .command('clear-canary')
      .description('stop the canary; the champion takes all traffic again')
      .option('--reason <text>', 'why, for the audit log', 'canary cleared from the command line'),
  ).action(async (options: CommonOptions & { reason: string }) => {
    const { registry, root } = openRegistry(options);
    reportChange(options, await registry.clearCanary({ why: options.reason }), root.clock.now());
  });

  withCommon(
    models
      .command('rollback')
      .description('put the previous champion back (and end any canary)')
      .option('--reason <text>', 'why, for the audit log', 'rolled back from the command line'),
  ).action(async (options: CommonOptions & { reason: string }) => {
    const { registry, root } = openRegistry(options);
    reportChange(options, await registry.rollback({ why: options.reason }), root.clock.now());
  });

  withCommon(
    models
      .command('compare')
      .argument('<a>', 'a version, a unique prefix, champion or canary')
      .argument('<b>', 'another version')
      .description(
        'two versions on the same rows: metrics and deltas (B - A), fairness side by side, settings and lineage diffs',
      )
      .option('--snapshot <id>', 'score on this stored feature snapshot instead of the current one')
      .option('--input <file>', 'score on a local feature table (manifest.json beside it) instead')
      .option('--html <file>', 'also write the comparison as one HTML page')
      .addHelpText(
        'after',
        `
The rows are the out-of-time tail of the current feature snapshot (the last test fraction by
loan_date, cut as the trainer cuts it): on the snapshot the newer version trained on, exactly its
test rows. Each version is scored with its own model.onnx and judged at its own threshold
(approve = prediction 0). A version whose training or validation period reaches into the rows
gets a warning. --json prints the whole comparison.

Examples:
  credit-risk models compare champion canary
  credit-risk models compare 3fa9c2e1 77b0d4aa --json
  credit-risk models compare champion 77b0d4aa --html compare.html`,
      ),
  ).action(
    async (
      a: string,
      b: string,
      options: CommonOptions & { snapshot?: string; input?: string; html?: string },
    ) => {
      if (options.snapshot && options.input)
        throw new InputError('BAD_ARGUMENTS', 'give --snapshot or --input, not both');
      const { registry, root } = openRegistry(options);
      process.stderr.write(`scoring ${a} and ${b} on the same rows...\n`);
      const comparison = await compareVersions({
        registry,
        featuresStore: root.objectStore,
        a,
        b,
        score: scoreOnnxBytes,
        tmpDir: root.home.tmp,
        input: options.input,
        snapshotId: options.snapshot,
      });
      if (options.html) {
        writeFileSync(options.html, comparisonHtml(comparison));
        process.stderr.write(`wrote ${options.html}\n`);
      }
      if (options.json) json(comparison);
      else out(comparisonText(comparison));
    },
  );

  withCommon(
    models.command('history').description('every registration and alias change, oldest first'),
  ).action(async (options: CommonOptions) => {
    const { registry } = openRegistry(options);
    const entries: AuditEntry[] = await registry.history();
    if (options.json) {
      json(entries);
      return;
    }
    if (entries.length === 0) {
      out(`no history for ${registry.name}`);
      return;
    }
    const rows = [['SEQ', 'AT', 'ACTION', 'FROM', 'TO', 'ACTOR', 'WHY']];
    for (const e of entries) {
      rows.push([String(e.seq), e.at, e.action, short(e.from), short(e.to), e.actor ?? '-', e.why]);
    }
    out(table(rows));
  });
}
