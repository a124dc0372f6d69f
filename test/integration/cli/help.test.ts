import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildProgram, commandModulesFor, reflowDescription } from '#local/cli.ts';

const BIN = resolve('bin/credit-risk.mjs');

function allCommands(cmd: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  return [
    { path: path.join(' ') || '(root)', cmd },
    ...cmd.commands.flatMap((c) => allCommands(c, [...path, c.name()])),
  ];
}

/** The description block of a help text: the lines between the usage line and the first section. */
function descriptionParagraphs(help: string): string[][] {
  const lines = help.split('\n');
  const end = lines.findIndex((l, i) => i > 1 && /^(Options|Commands|Arguments):/.test(l));
  const block = lines.slice(2, end === -1 ? undefined : end);
  const paragraphs: string[][] = [[]];
  for (const l of block) {
    if (l.trim() === '') paragraphs.push([]);
    else paragraphs[paragraphs.length - 1].push(l);
  }
  return paragraphs.filter((p) => p.length > 0);
}

describe('--help', () => {
  it('reflowDescription joins hand-broken lines into paragraphs and leaves hand-laid-out text alone', () => {
    expect(
      reflowDescription('one long sentence broken\nby hand at 100 columns.\n\nA second paragraph\nhere.'),
    ).toBe('one long sentence broken by hand at 100 columns.\n\nA second paragraph here.');
    const laidOut = 'Typical flow:\n  credit-risk data generate\n  credit-risk features build';
    expect(reflowDescription(laidOut)).toBe(laidOut);
  });

  it('every command description wraps evenly at 80 columns: no ragged half line inside a paragraph', async () => {
    const program = await buildProgram();
    const commands = allCommands(program);
    expect(commands.length).toBeGreaterThan(30);
    const ragged: string[] = [];
    for (const { path, cmd } of commands) {
      cmd.configureOutput({ getOutHelpWidth: () => 80 });
      for (const paragraph of descriptionParagraphs(cmd.helpInformation())) {
        if (paragraph.some((l) => /^\s/.test(l))) continue; // laid out by hand (examples, lists)
        // Ragged: the next line's first word would have fitted on this one.
        paragraph.slice(0, -1).forEach((line, i) => {
          const nextWord = paragraph[i + 1].split(' ')[0];
          if (line.length + 1 + nextWord.length <= 80) ragged.push(`${path}: ${JSON.stringify(line)}`);
        });
        paragraph.forEach((line) => {
          if (line.length > 80) ragged.push(`${path}: over 80 columns: ${JSON.stringify(line)}`);
        });
      }
    }
    expect(ragged).toEqual([]);
  });

  it("a command line loads only its command's module; help, no command or a typo load none", async () => {
    const argv = (...words: string[]) => ['node', 'credit-risk', ...words];
    expect(commandModulesFor(argv('features', 'get', '--id', '5008827'))).toEqual(['./commands/features.ts']);
    expect(commandModulesFor(argv('predict-file', '--model', 'm'))).toEqual(['./commands/train.ts']);
    expect(commandModulesFor(argv('help', 'train'))).toEqual(['./commands/train.ts']);
    for (const words of [[], ['--help'], ['featurs'], ['constructor']])
      expect(commandModulesFor(argv(...words))).toEqual([]);
    expect(commandModulesFor(argv('explain', '--id', '5008827'))).toEqual(['./commands/explain.ts']);
    expect(commandModulesFor(argv(), 'all')).toHaveLength(11);
    // Each name leads to the module that registers it: the program built for it has that command.
    const full = await buildProgram();
    for (const cmd of full.commands.filter((c) => c.name() !== 'help')) {
      const program = await buildProgram(argv(cmd.name()), 'stubs');
      expect(program.commands.map((c) => c.name())).toContain(cmd.name());
    }
  });

  it('the top-level help from the command stubs is the help built from every module', async () => {
    const stubs = await buildProgram(['node', 'credit-risk', '--help'], 'stubs');
    const full = await buildProgram();
    for (const p of [stubs, full]) p.configureOutput({ getOutHelpWidth: () => 100 });
    expect(stubs.commands.length).toBe(full.commands.length);
    expect(stubs.helpInformation()).toBe(full.helpInformation());
  });

  it('a reader that closes the pipe early (`| head`) ends the command quietly, exit 0, no EPIPE trace', async () => {
    const child = spawn(process.execPath, [BIN, 'train', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the help is written
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += String(c)));
    const code = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  });
});
