import { Command, CommanderError } from 'commander';
import { isInputError } from '#lib/errors.ts';

/**
 * `credit-risk`: one CLI for the local system and for operating the AWS deployment.
 * Each command group lives in local/commands/<group>.ts and exports register(program).
 * Exit codes: 0 ok, 1 unexpected failure (a bug or an outage), 2 bad input or usage.
 */
const commandModules = [
  './commands/data.ts',
  './commands/features.ts',
  './commands/train.ts',
  './commands/models.ts',
  './commands/serve.ts',
  './commands/score.ts',
  './commands/pipeline.ts',
  './commands/monitor.ts',
  './commands/aws.ts',
  './commands/start.ts',
] as const;

export async function buildProgram(): Promise<Command> {
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
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const path of commandModules) {
    const mod = (await import(path)) as { register: (p: Command) => void };
    mod.register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isInputError(e)) {
      const json = argv.includes('--json');
      if (json) console.error(JSON.stringify({ error: { code: e.code, message: e.message, ...e.details } }));
      else console.error(`error [${e.code}]: ${e.message}`);
      return 2;
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return 1;
  }
}
