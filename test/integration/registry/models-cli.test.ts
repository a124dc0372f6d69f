import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshHome } from '../../support/home.ts';

/** The real CLI, as a user runs it, against a fresh local home. */
function cli(home: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function modelDir(tag: string, auc: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'cr-modeldir-'));
  writeFileSync(join(dir, 'model.onnx'), `model ${tag}`);
  writeFileSync(join(dir, 'card.json'), JSON.stringify({ metrics: { test: { auc } } }));
  writeFileSync(join(dir, 'report.html'), '<!doctype html><title>r</title>');
  return dir;
}

describe('credit-risk models', () => {
  it('registers, lists, promotes, rolls back and shows the history', () => {
    const home = freshHome().root;
    const first = cli(home, 'models', 'register', modelDir('a', 0.7));
    expect(first.code).toBe(0);
    const v1 = first.stdout.trim();
    expect(v1).toMatch(/^[0-9a-f]{64}$/);
    const again = cli(home, 'models', 'register', modelDir('a', 0.7), '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ name: 'credit-risk', version: v1, created: false });
    const v2 = cli(home, 'models', 'register', modelDir('b', 0.72)).stdout.trim();

    expect(cli(home, 'models', 'promote', v1.slice(0, 8)).code).toBe(0);
    expect(cli(home, 'models', 'promote', v2.slice(0, 8), '--reason', 'better auc').code).toBe(0);
    const list = cli(home, 'models', 'list');
    expect(list.stdout).toMatch(new RegExp(`${v2.slice(0, 12)}\\s+\\S+\\s+0\\.7200\\s+-\\s+champion`));

    const back = cli(home, 'models', 'rollback', '--reason', 'alarm fired', '--json');
    expect(JSON.parse(back.stdout).aliases).toMatchObject({ champion: v1, previousChampions: [] });

    const history = JSON.parse(cli(home, 'models', 'history', '--json').stdout) as {
      action: string;
      why: string;
    }[];
    expect(history.map((e) => `${e.action}:${e.why}`)).toEqual([
      'register:registered from the command line',
      'register:registered from the command line',
      'promote:promoted from the command line',
      'promote:better auc',
      'rollback:alarm fired',
    ]);
    const shown = JSON.parse(cli(home, 'models', 'show', 'champion', '--json').stdout);
    expect(shown).toMatchObject({
      version: v1,
      aliases: ['champion'],
      card: { metrics: { test: { auc: 0.7 } } },
    });
    expect(shown.files.report).toContain(join(home, 'store', 'models', 'credit-risk', v1, 'report.html'));
  });

  it('answers an unknown version or a missing file with one clear error and exit code 2', () => {
    const home = freshHome().root;
    const unknown = cli(home, 'models', 'show', 'abcdef');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      'error [UNKNOWN_MODEL_VERSION]: no version abcdef is registered under model credit-risk (see: credit-risk models list)',
    );
    const missing = cli(home, 'models', 'register', join(home, 'nowhere'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error \[MISSING_MODEL_FILE\]: .*nowhere\/model\.onnx does not exist/);
  });
});
