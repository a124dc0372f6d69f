import { Command, CommanderError } from 'commander';
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
  ['models', './commands/models.ts'],
  ['serve', './commands/serve.ts'],
  ['score', './commands/score.ts'],
  ['pipeline', './commands/pipeline.ts'],
  ['monitor', './commands/monitor.ts'],
  ['aws', './commands/aws.ts'],
  ['start', './commands/start.ts'],
]);

/**
 * The modules to load for this command line: only the named command's, when the first word is
 * one (the modules import their dependencies at load: DuckDB, PGlite, onnxruntime, Powertools,
 * the AWS SDK; all of them took ~1.2 s, so every command paid it); all of them otherwise (no
 * command, `help`, an unknown or mistyped command, which commander answers from the full list).
 */
export function commandModulesFor(argv: readonly string[]): string[] {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const only = first === undefined ? undefined : COMMAND_MODULES.get(first);
  return only ? [only] : [...new Set(COMMAND_MODULES.values())];
}

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
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
  for (const path of commandModulesFor(argv)) {
    const mod = (await import(path)) as { register: (p: Command) => void };
    mod.register(program);
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
  const program = await buildProgram(argv);
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
