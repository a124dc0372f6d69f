import type { Command } from 'commander';
import { InputError } from '#lib/errors.ts';
import { lookupOnlineFeatures } from '#lib/features/online.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, shortId } from '#lib/registry/registry.ts';
import { loadRegisteredModel } from '#lib/serving/model.ts';
import { createPredictor, type Prediction } from '#lib/serving/predictor.ts';
import { reasonText } from '#lib/serving/reasons.ts';
import { isCustomerId } from '#lib/privacy/customer-id.ts';
import { createLocalRoot } from '../root.ts';

/**
 * `credit-risk explain --id ID`: what POST /predict answers for a customer with `"explain": true`,
 * read the same way (the local online store, the registry's champion, the predictor and its
 * TreeSHAP explainer), printed as a table of every feature's value and contribution, largest
 * push toward default first; `--json` prints the answer itself plus the as-of date and the values.
 */
export interface ExplainReport extends Prediction {
  asOf: string;
  /** The model's input values by feature, in model order; null when missing. */
  features: Record<string, number | null>;
  /** Why the version cannot explain (a version without explainer.json); absent when it can. */
  warning?: string;
}

export function register(program: Command): void {
  program
    .command('explain')
    .summary("why a customer gets its score: the prediction with every feature's contribution")
    .description(
      "the prediction for one customer with every feature's contribution to it (exact TreeSHAP, in\n" +
        'log-odds: the model bias plus the contributions is the score in log-odds, whose sigmoid is the\n' +
        'probability), read like POST /predict with "explain": true: the online store, the champion\n' +
        '(or --model), features as of today (or --as-of). The reasons are the features that pushed the\n' +
        'score toward default, largest first, at most 4, as /predict answers them.',
    )
    .requiredOption('--id <id>', 'customer id (the `id` column of the raw loans)')
    .option(
      '--as-of <date>',
      "request date YYYY-MM-DD (default: today, UTC); not before the customer's last loan",
    )
    .option('--model <version>', 'a registered version, prefix, champion or canary', 'champion')
    .option('--name <model>', 'registered model name', DEFAULT_MODEL_NAME)
    .option(
      '--json',
      'print the /predict answer (with explanation) plus asOf and the feature values, as JSON',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk explain --id 5008827\n' +
        '  credit-risk explain --id 5008827 --as-of 2024-01-31 --json\n' +
        '  credit-risk explain --id 5008827 --model canary\n' +
        'Exit code 2 with UNKNOWN_CUSTOMER when the id is not in the online store, NO_CHAMPION without a model.\n',
    )
    .action(async (opts: { id: string; asOf?: string; model: string; name: string; json?: boolean }) => {
      if (!isCustomerId(opts.id))
        throw new InputError('INVALID_ID', `--id must be 1 to 20 digits, got ${JSON.stringify(opts.id)}`);
      const root = createLocalRoot();
      try {
        const registry = new ModelRegistry(root.objectStore, { name: opts.name, clock: root.clock });
        if (opts.model === 'champion' && !(await registry.aliases()).champion)
          throw new InputError(
            'NO_CHAMPION',
            `model ${opts.name} has no champion: train, register and promote one, or run npm start`,
          );
        if ((await root.featureStore.currentSnapshot()) === undefined)
          throw new InputError(
            'NO_SNAPSHOT',
            'the online store is empty: run `credit-risk features publish --snapshot DIR` first',
          );
        const asOf = opts.asOf ?? root.clock.today();
        const model = await loadRegisteredModel(root.objectStore, registry, opts.model);
        try {
          const predictor = createPredictor({
            featureStore: root.featureStore,
            clock: fixedClock(asOf),
            model,
          });
          const prediction = await predictor.predict(opts.id, { explain: true });
          const online = await lookupOnlineFeatures(root.featureStore, opts.id, asOf);
          const values = online.features as Record<string, number | null>;
          const report: ExplainReport = {
            ...prediction,
            asOf,
            features: Object.fromEntries(model.featureNames.map((f) => [f, values[f] ?? null])),
            ...(model.explainerWarning ? { warning: model.explainerWarning } : {}),
          };
          if (opts.json) console.log(JSON.stringify(report, null, 2));
          else console.log(formatExplanation(report, model.typicalValues ?? []));
        } finally {
          await model.release();
        }
      } finally {
        await root.featureStore.close();
      }
    });
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;

/** The readable table: every feature by contribution, reasons marked, then bias, margin and probability. */
export function formatExplanation(r: ExplainReport, typicalValues: readonly (number | null)[]): string {
  const lines = [
    `customer ${r.id} as of ${r.asOf}: probability ${r.probability.toFixed(4)}, threshold ${r.threshold.toFixed(4)}, ` +
      `prediction ${r.prediction} (${r.prediction === 1 ? 'predicted to go bad' : 'predicted good'})`,
    `model ${shortId(r.modelVersion)}, feature snapshot ${r.featureSnapshot}`,
  ];
  if (!r.explanation) {
    lines.push(`no explanation: ${r.warning ?? 'this model version has no explainer'}`);
    return lines.join('\n');
  }
  const { bias, margin, contributions } = r.explanation;
  const names = Object.keys(r.features);
  const rank = new Map(r.reasons.map((reason, i) => [reason.feature, i + 1]));
  const rows = names
    .map((feature, f) => {
      const value = r.features[feature];
      const c = contributions[feature];
      const text = c > 0 ? reasonText(feature, value, typicalValues[f]) : '';
      const reason = rank.has(feature) ? `reason ${rank.get(feature)}` : '';
      return {
        feature,
        value: value === null ? 'missing' : String(Number(value.toFixed(4))),
        c,
        text,
        reason,
      };
    })
    .sort((a, b) => b.c - a.c);
  const width = (pick: (x: (typeof rows)[number]) => string, title: string) =>
    Math.max(title.length, ...rows.map((x) => pick(x).length));
  const wf = width((x) => x.feature, 'feature');
  const wv = width((x) => x.value, 'value');
  const wr = width((x) => x.reason, '');
  lines.push(
    '',
    `${'feature'.padEnd(wf)}  ${'value'.padStart(wv)}  ${'contribution'.padStart(12)}  ${''.padEnd(wr)}  toward default because`,
  );
  for (const x of rows)
    lines.push(
      `${x.feature.padEnd(wf)}  ${x.value.padStart(wv)}  ${signed(x.c).padStart(12)}  ${x.reason.padEnd(wr)}  ${x.text}`.trimEnd(),
    );
  lines.push(
    '',
    `${'bias (expected score)'.padEnd(wf + wv + 2)}  ${signed(bias).padStart(12)}`,
    `${'margin = bias + sum'.padEnd(wf + wv + 2)}  ${signed(margin).padStart(12)}  sigmoid(margin) = ${(1 / (1 + Math.exp(-margin))).toFixed(4)}`,
    '(contributions in log-odds; > 0 pushes toward default)',
  );
  if (r.reasons.length === 0) lines.push('no feature pushed this score toward default: no reasons');
  return lines.join('\n');
}
