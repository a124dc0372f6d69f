import { Command, CommanderError, Help } from 'commander';
import { isInputError } from '#lib/errors.ts';
import { EXIT, isRunFailedError } from './exit-status.ts';

/**
 * `credit-risk`: one CLI for the local system and for operating the AWS deployment.
 * Each command group lives in local/commands/<group>.ts and exports register(program).
 * Exit codes (local/exit-status.ts EXIT; the top-level --help lists them too):
 *   0  ok (a training run that ends rejected by the gate or with its canary rolled back is ok:
 *      it did what it should; its decision is in the output)
 *   1  unexpected failure (a bug or an outage)
 *   2  bad input or usage (InputError with a stable code, commander usage errors)
 *   3  a state-machine run the command ran ended failed: `pipeline run|resume|batch`,
 *      `monitor drift --retrain`; the result is printed first, then one `error [RUN_FAILED]` line
 * The code is main's return value; bin/credit-risk.mjs sets process.exitCode from it, so a
 * command reports a failed run by throwing RunFailedError, never by setting process.exitCode.
 */
/** Each top-level command and the module that registers it (in the order --help lists them). */
const COMMAND_MODULES = new Map<string, string>([
  ['data', './commands/data.ts'],
  ['features', './commands/features.ts'],
  ['train', './commands/train.ts'],
  ['predict-file', './commands/train.ts'],
  ['staleness', './commands/train.ts'],
  ['models', './commands/models.ts'],
  ['serve', './commands/serve.ts'],
  ['score', './commands/score.ts'],
  ['explain', './commands/explain.ts'],
  ['pipeline', './commands/pipeline.ts'],
  ['monitor', './commands/monitor.ts'],
  ['aws', './commands/aws.ts'],
  ['start', './commands/start.ts'],
]);

/**
 * Each module's loader: literal import() calls, so a bundler sees every command module (the
 * compiled CLI, scripts/build-cli.mjs, splits one chunk per module and loads only what it needs).
 */
const COMMAND_LOADERS: Record<string, () => Promise<unknown>> = {
  './commands/data.ts': () => import('./commands/data.ts'),
  './commands/features.ts': () => import('./commands/features.ts'),
  './commands/train.ts': () => import('./commands/train.ts'),
  './commands/models.ts': () => import('./commands/models.ts'),
  './commands/serve.ts': () => import('./commands/serve.ts'),
  './commands/score.ts': () => import('./commands/score.ts'),
  './commands/explain.ts': () => import('./commands/explain.ts'),
  './commands/pipeline.ts': () => import('./commands/pipeline.ts'),
  './commands/monitor.ts': () => import('./commands/monitor.ts'),
  './commands/aws.ts': () => import('./commands/aws.ts'),
  './commands/start.ts': () => import('./commands/start.ts'),
};

/**
 * What the top-level help lists for each command, without loading its module: its usage term and
 * summary, exactly as the module registers them (test/integration/cli/help.test.ts holds the help
 * built from these equal to the help built from the modules). The modules import their
 * dependencies at load (DuckDB, PGlite, onnxruntime, Powertools, the AWS SDK: about 0.6 s in all).
 */
const COMMAND_STUBS: ReadonlyArray<{ name: string; term: string; summary: string }> = [
  {
    name: 'data',
    term: 'data',
    summary: 'generate synthetic raw loan records (the Kueski challenge schema) and validate raw files',
  },
  {
    name: 'features',
    term: 'features',
    summary:
      'build point-in-time features from raw loans, publish them to the offline and online stores, read them back',
  },
  {
    name: 'train',
    term: 'train [options]',
    summary: 'train a GBDT on a features table: model.onnx, card.json, report.html',
  },
  {
    name: 'staleness',
    term: 'staleness [options]',
    summary: 'how fast a model goes stale: AUC and calibration on each later month',
  },
  {
    name: 'predict-file',
    term: 'predict-file [options]',
    summary: 'score every row of a table with a trained model directory, to CSV',
  },
  {
    name: 'models',
    term: 'models',
    summary: 'the model registry: register trained models, list and inspect versions, promote, roll back',
  },
  {
    name: 'serve',
    term: 'serve [options]',
    summary: 'serve POST /predict on localhost: the predict handler, champion and canary',
  },
  {
    name: 'score',
    term: 'score [options]',
    summary: 'batch-score a features table with a model (the same scoring as POST /predict)',
  },
  {
    name: 'explain',
    term: 'explain [options]',
    summary: "why a customer gets its score: the prediction with every feature's contribution",
  },
  {
    name: 'pipeline',
    term: 'pipeline',
    summary:
      'run the training (and batch-scoring) state machines locally (the same ASL files Step Functions runs) and inspect their runs',
  },
  {
    name: 'monitor',
    term: 'monitor',
    summary: 'watch the system: feature drift of the current snapshot against the champion',
  },
  {
    name: 'aws',
    term: 'aws',
    summary:
      'operate the deployed system in an AWS account: training runs, the Glue feature job, and the champion (rollback, promote)',
  },
  {
    name: 'start',
    term: 'start [options]',
    summary: 'the whole system in one command: data, training pipeline, canary, serve (npm start)',
  },
];

/**
 * The modules to load for this command line: only the named command's when the first word is one
 * (or `help <command>`); none otherwise (no command, `--help`, an unknown or mistyped command),
 * which commander answers from the stubs above (listing, suggestions). `all` loads every module
 * (tests, and anything that needs every command's options).
 */
export function commandModulesFor(argv: readonly string[], mode: 'stubs' | 'all' = 'stubs'): string[] {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const named = words[0] === 'help' ? words[1] : words[0];
  const only = named === undefined ? undefined : COMMAND_MODULES.get(named);
  if (only) return [only];
  return mode === 'all' ? [...new Set(COMMAND_MODULES.values())] : [];
}

export async function buildProgram(
  argv: readonly string[] = [],
  mode: 'stubs' | 'all' = 'all',
): Promise<Command> {
  const program = new Command('credit-risk')
    .description(
      'Credit-risk ML on AWS serverless, runnable end to end on this machine.\n\n' +
        'Local state lives in ./.credit-risk (set CREDIT_RISK_HOME to move it).\n' +
        'Typical flow:\n' +
        '  credit-risk data generate --rows 100000 --out loans.csv\n' +
        '  credit-risk features build --input loans.csv --out features/\n' +
        '  credit-risk features publish --snapshot features/\n' +
        '  credit-risk features get --id 5008827\n' +
        'Or all of it at once: npm start',
    )
    .addHelpText(
      'after',
      '\nExit codes:\n' +
        '  0  ok (a run rejected by the quality gate or whose canary was rolled back is ok)\n' +
        '  1  unexpected failure (a bug or an outage; a stack trace follows)\n' +
        '  2  bad input or usage: one line "error [CODE]: message"\n' +
        '  3  the state-machine run of pipeline run|resume|batch or monitor drift --retrain\n' +
        '     ended failed: its result, then "error [RUN_FAILED]: run ID failed at STATE: ..."',
    )
    .showHelpAfterError('(run with --help for usage)')
    // Inherited by every subcommand registered below.
    .configureHelp({
      commandDescription: (cmd) => reflowDescription(cmd.description()),
      subcommandDescription: (cmd) => reflowDescription(cmd.summary() || cmd.description()),
    })
    .exitOverride();
  const modules = commandModulesFor(argv, mode);
  for (const path of modules) {
    const mod = (await COMMAND_LOADERS[path]()) as { register: (p: Command) => void };
    mod.register(program);
  }
  if (modules.length === 0) {
    const terms = new Map(COMMAND_STUBS.map((c) => [c.name, c.term]));
    for (const c of COMMAND_STUBS) program.command(c.name).summary(c.summary);
    const fallback = new Help();
    program.configureHelp({
      ...program.configureHelp(),
      subcommandTerm: (cmd) => terms.get(cmd.name()) ?? fallback.subcommandTerm(cmd),
    });
  }
  return program;
}

/**
 * A command description as one paragraph per blank-line-separated block, for commander to wrap
 * at the terminal's width. The sources break their long descriptions by hand at about 100
 * columns; commander keeps those breaks and wraps each line again at 80, which left a ragged
 * half line after every break. A description with an indented line (examples, a list) is
 * laid out by hand on purpose and is kept as it is (commander does not rewrap it either).
 */
export function reflowDescription(text: string): string {
  if (/\n[^\S\r\n]/.test(text)) return text;
  return text
    .split(/\n{2,}/)
    .map((paragraph) => paragraph.replace(/\s*\n\s*/g, ' ').trim())
    .join('\n\n');
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv, 'stubs');
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return e.exitCode === 0 ? EXIT.ok : EXIT.input;
    }
    const json = argv.includes('--json');
    if (isInputError(e)) {
      if (json) console.error(JSON.stringify({ error: { code: e.code, message: e.message, ...e.details } }));
      else console.error(`error [${e.code}]: ${e.message}`);
      return EXIT.input;
    }
    if (isRunFailedError(e)) {
      if (json)
        console.error(
          JSON.stringify({ error: { code: e.code, message: e.message, executionId: e.executionId } }),
        );
      else console.error(`error [${e.code}]: ${e.message}`);
      return EXIT.runFailed;
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return EXIT.failure;
  }
}
