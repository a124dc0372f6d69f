import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
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

  it('canary --deadline-minutes: list and show give the deadline; a bad one is exit 2', () => {
    const home = freshHome().root;
    const v1 = cli(home, 'models', 'register', modelDir('a', 0.7)).stdout.trim();
    const v2 = cli(home, 'models', 'register', modelDir('b', 0.72)).stdout.trim();
    cli(home, 'models', 'promote', v1);
    const before = Date.now();
    const set = cli(home, 'models', 'canary', v2, '--weight', '0.2', '--deadline-minutes', '30', '--json');
    expect(set.code).toBe(0);
    const deadline = Date.parse(JSON.parse(set.stdout).aliases.canary.deadline);
    expect(deadline - before).toBeGreaterThanOrEqual(30 * 60_000);
    expect(deadline - before).toBeLessThan(31 * 60_000);
    const iso = new Date(deadline).toISOString();
    expect(cli(home, 'models', 'list').stdout).toContain(
      `champion ${v1.slice(0, 12)}, canary ${v2.slice(0, 12)} at 0.2 until ${iso}`,
    );
    expect(JSON.parse(cli(home, 'models', 'show', 'canary', '--json').stdout)).toMatchObject({
      aliases: ['canary'],
      canary: { weight: 0.2, deadline: iso, expired: false },
    });
    expect(cli(home, 'models', 'show', 'canary').stdout).toContain(`canary: weight 0.2, until ${iso}`);
    for (const bad of ['0', '-5', 'soon', '20000']) {
      const r = cli(home, 'models', 'canary', v2, '--weight', '0.2', '--deadline-minutes', bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /^error \[BAD_CANARY_DEADLINE\]: --deadline-minutes must be a number in \(0, 10080\]/,
      );
    }
    // A canary left within its deadline stays.
    const kept = cli(home, 'models', 'expire-canary', '--json');
    expect(JSON.parse(kept.stdout)).toMatchObject({ expired: false, aliases: { canary: { version: v2 } } });
  });

  it('expire-canary clears a canary past its deadline (the local alias table first), audited "canary expired"', async () => {
    const home = freshHome();
    const store = new FsObjectStore(home.store);
    // Set two hours ago, with a 30-minute deadline: it expired 90 minutes ago and nobody cleared it.
    const past = new ModelRegistry(store, { clock: fixedClock('2020-01-01') });
    const reg = async (tag: string) =>
      (await past.register({ model: new TextEncoder().encode(tag), card: '{}', report: '' })).version;
    const v1 = await reg('a');
    const v2 = await reg('b');
    const table = AliasTableDeployer.inBuilds(home.builds);
    const f1 = await table.publish({ modelVersion: v1, artifact: '/b/1', buildId: 'b1' });
    const f2 = await table.publish({ modelVersion: v2, artifact: '/b/2', buildId: 'b2' });
    await table.route({
      functionVersion: f1.functionVersion,
      canary: { functionVersion: f2.functionVersion, weight: 0.1 },
    });
    await past.promote(v1);
    await past.setCanary(v2, 0.1, { deadline: new Date('2020-01-01T12:30:00Z') });

    const list = cli(home.root, 'models', 'list');
    expect(list.stdout).toContain(
      `canary ${v2.slice(0, 12)} at 0.1 expired 2020-01-01T12:30:00.000Z (serving ignores it)`,
    );
    const r = cli(home.root, 'models', 'expire-canaries');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`canary ${v2.slice(0, 12)} expired at 2020-01-01T12:30:00.000Z: cleared`);
    expect(await table.routing()).toEqual({ functionVersion: f1.functionVersion, canary: null });
    const last = JSON.parse(cli(home.root, 'models', 'history', '--json').stdout).at(-1);
    expect(last).toMatchObject({
      action: 'clear-canary',
      from: v2,
      to: null,
      why: 'canary expired: its deadline 2020-01-01T12:30:00.000Z passed before it was judged',
      actor: expect.stringMatching(/^cli:/),
    });
    expect(cli(home.root, 'models', 'expire-canary').stdout).toMatch(/^no canary\n/);
  });
});
