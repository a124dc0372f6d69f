import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { getJson, getText } from '#lib/ports/object-store.ts';
import type { Clock } from '#lib/ports/clock.ts';
import { canaryDeadline, canaryExpired, EMPTY_ALIASES, type Aliases } from '#lib/registry/aliases.ts';
import type { AuditEntry } from '#lib/registry/audit.ts';
import { ModelRegistry, sha256Hex } from '#lib/registry/registry.ts';

const enc = new TextEncoder();
const store = () => new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-registry-')));
const registry = (s = store(), name?: string) =>
  new ModelRegistry(s, { name, clock: fixedClock('2024-05-01'), actor: 'test' });

function artifacts(tag: string, auc = 0.7) {
  return {
    model: enc.encode(`onnx bytes of ${tag}`),
    card: JSON.stringify({ metrics: { test: { auc } }, training: { snapshotId: `snap-${tag}` } }),
    report: `<html>${tag}</html>`,
  };
}

describe('ModelRegistry.register', () => {
  it('stores model, report and card under the sha256 of model.onnx', async () => {
    const s = store();
    const r = registry(s);
    const a = artifacts('a');
    const res = await r.register(a);
    const version = sha256Hex(a.model);
    expect(res).toEqual({ name: 'credit-risk', version, created: true });
    expect(await s.get(`models/credit-risk/${version}/model.onnx`)).toEqual(a.model);
    expect(await getText(s, `models/credit-risk/${version}/report.html`)).toBe('<html>a</html>');
    expect(await getJson(s, `models/credit-risk/${version}/card.json`)).toEqual(JSON.parse(a.card));
  });

  it('is a no-op for the same bytes twice, keeping the first card', async () => {
    const r = registry();
    const first = await r.register(artifacts('a', 0.7));
    const again = await r.register({ ...artifacts('a', 0.9), report: 'other' });
    expect(again).toEqual({ ...first, created: false });
    expect((await r.card(first.version)).card).toMatchObject({ metrics: { test: { auc: 0.7 } } });
    expect((await r.history()).filter((e) => e.action === 'register')).toHaveLength(1);
  });

  it('refuses different bytes under an existing version', async () => {
    const s = store();
    const r = registry(s);
    const a = artifacts('a');
    const version = sha256Hex(a.model);
    // Someone wrote other bytes at the version's key outside the registry API.
    await s.put(`models/credit-risk/${version}/model.onnx`, 'tampered');
    await expect(r.register(a)).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    expect(await r.isRegistered(version)).toBe(false);
  });

  it('finishes a registration that crashed after writing model.onnx', async () => {
    const s = store();
    const a = artifacts('a');
    const version = sha256Hex(a.model);
    await s.put(`models/credit-risk/${version}/model.onnx`, a.model);
    expect(await registry(s).register(a)).toMatchObject({ version, created: true });
  });

  it('rejects a card that is not a JSON object or names another version', async () => {
    const r = registry();
    await expect(r.register({ ...artifacts('a'), card: '[1]' })).rejects.toMatchObject({
      code: 'BAD_MODEL_CARD',
    });
    await expect(r.register({ ...artifacts('a'), card: '{"version": "ffff0000"}' })).rejects.toMatchObject({
      code: 'CARD_VERSION_MISMATCH',
    });
  });

  it('keeps models of different names apart and rejects a bad name', async () => {
    const s = store();
    await registry(s, 'other').register(artifacts('a'));
    expect(await registry(s).list()).toEqual([]);
    expect(() => registry(s, '../x')).toThrow(/model name/);
  });
});

describe('ModelRegistry versions', () => {
  it('lists versions with short ids, AUC, snapshot and aliases', async () => {
    const r = registry();
    const a = await r.register(artifacts('a', 0.71));
    await r.promote(a.version);
    const list = await r.list();
    expect(list).toEqual([
      {
        version: a.version,
        shortId: a.version.slice(0, 12),
        registeredAt: '2024-05-01T12:00:00.000Z',
        auc: 0.71,
        featureSnapshot: 'snap-a',
        aliases: ['champion'],
      },
    ]);
  });

  it('resolves a unique prefix or an alias, and says clearly when a version is unknown', async () => {
    const r = registry();
    const a = await r.register(artifacts('a'));
    expect(await r.resolveVersion(a.version.slice(0, 6))).toBe(a.version);
    await expect(r.resolveVersion('champion')).rejects.toMatchObject({ code: 'NO_SUCH_ALIAS' });
    await r.promote(a.version);
    expect(await r.resolveVersion('champion')).toBe(a.version);
    const other = a.version.startsWith('0') ? '1234' : '0000';
    await expect(r.resolveVersion(other)).rejects.toMatchObject({
      code: 'UNKNOWN_MODEL_VERSION',
      message: expect.stringMatching(/no version 0000|no version 1234/),
    });
    await expect(r.resolveVersion('xyz')).rejects.toMatchObject({ code: 'UNKNOWN_MODEL_VERSION' });
    await expect(r.promote('ab')).rejects.toMatchObject({ code: 'UNKNOWN_MODEL_VERSION' });
  });
});

describe('ModelRegistry aliases and audit', () => {
  it('canary -> promote -> rollback, each step audited with what, from, to, why and when', async () => {
    const s = store();
    const r = registry(s);
    const v1 = (await r.register(artifacts('1'))).version;
    const v2 = (await r.register(artifacts('2'))).version;
    await r.promote(v1, { why: 'first model' });
    await r.setCanary(v2, 0.1, { why: 'try v2' });
    expect(await r.aliases()).toMatchObject({ champion: v1, canary: { version: v2, weight: 0.1 } });
    await r.promote(v2, { why: 'alarms quiet' });
    expect(await r.aliases()).toMatchObject({ champion: v2, canary: null, previousChampions: [v1] });
    const back = await r.rollback({ why: 'latency regression' });
    expect(back.aliases).toMatchObject({ champion: v1, canary: null, previousChampions: [] });

    const history = await r.history();
    expect(history.map((e) => [e.seq, e.action, e.from, e.to, e.why])).toEqual([
      [1, 'register', null, v1, 'registered'],
      [2, 'register', null, v2, 'registered'],
      [3, 'promote', null, v1, 'first model'],
      [4, 'set-canary', null, v2, 'try v2'],
      [5, 'promote', v1, v2, 'alarms quiet'],
      [6, 'rollback', v2, v1, 'latency regression'],
    ]);
    expect(history.every((e) => e.at === '2024-05-01T12:00:00.000Z' && e.actor === 'test')).toBe(true);
    // aliases.json is the state of the last entry; audit.jsonl has one line per entry.
    expect(await getJson<Aliases>(s, 'models/credit-risk/aliases.json')).toEqual(history[5].aliases);
    const jsonl = (await getText(s, 'models/credit-risk/audit.jsonl'))!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEntry);
    expect(jsonl).toEqual(history);
  });

  it('does not audit a change that changes nothing', async () => {
    const r = registry();
    const v1 = (await r.register(artifacts('1'))).version;
    await r.promote(v1);
    const again = await r.promote(v1);
    expect(again.entry).toBeUndefined();
    expect((await r.clearCanary()).entry).toBeUndefined();
    expect(await r.history()).toHaveLength(2);
  });

  it('refuses a rollback with no previous champion, a bad weight, and a canary equal to the champion', async () => {
    const r = registry();
    const v1 = (await r.register(artifacts('1'))).version;
    await expect(r.rollback()).rejects.toMatchObject({ code: 'NO_PREVIOUS_CHAMPION' });
    await r.promote(v1);
    await expect(r.rollback()).rejects.toMatchObject({ code: 'NO_PREVIOUS_CHAMPION' });
    await expect(r.setCanary(v1, 0.1)).rejects.toMatchObject({ code: 'CANARY_IS_CHAMPION' });
    const v2 = (await r.register(artifacts('2'))).version;
    await expect(r.setCanary(v2, 0)).rejects.toMatchObject({ code: 'BAD_CANARY_WEIGHT' });
    await expect(r.setCanary(v2, 1.5)).rejects.toMatchObject({ code: 'BAD_CANARY_WEIGHT' });
  });

  it('a rollback told where it must go refuses, writing nothing, when the registry would go elsewhere', async () => {
    const r = registry();
    const v1 = (await r.register(artifacts('1'))).version;
    const v2 = (await r.register(artifacts('2'))).version;
    await r.promote(v1);
    await r.promote(v2);
    const before = await r.history();
    await expect(r.rollback({ to: v2 })).rejects.toMatchObject({
      code: 'CONCURRENT_CHANGE',
      message: expect.stringContaining(`it would now roll back to ${v1}, not ${v2}`),
    });
    expect(await r.history()).toEqual(before);
    expect((await r.rollback({ to: v1 })).aliases.champion).toBe(v1);
  });

  it('rolls the state forward past a writer that crashed before writing aliases.json', async () => {
    const s = store();
    const r = registry(s);
    const v1 = (await r.register(artifacts('1'))).version;
    const v2 = (await r.register(artifacts('2'))).version;
    await r.promote(v1);
    const stale = await getText(s, 'models/credit-risk/aliases.json');
    await r.promote(v2);
    await s.put('models/credit-risk/aliases.json', stale!); // as if the last writer died after its audit entry
    expect((await r.aliases()).champion).toBe(v2);
    await r.rollback({ why: 'after crash' });
    expect(await r.aliases()).toMatchObject({ champion: v1, seq: 5 });
  });

  it('loses no change when writers race on the same store', async () => {
    const s = store();
    const setup = registry(s);
    const versions: string[] = [];
    for (let i = 0; i < 6; i++) versions.push((await setup.register(artifacts(String(i)))).version);
    // Six independent registry instances (six Lambdas) promote at once.
    await Promise.all(versions.map((v) => registry(s).promote(v, { why: `promote ${v.slice(0, 4)}` })));
    const history = await setup.history();
    expect(history.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const promotes = history.filter((e) => e.action === 'promote');
    expect(new Set(promotes.map((e) => e.to))).toEqual(new Set(versions));
    // Each promote saw the champion the previous one left: the chain is unbroken.
    for (let i = 1; i < promotes.length; i++) expect(promotes[i].from).toBe(promotes[i - 1].to);
    const aliases = await setup.aliases();
    expect(aliases.champion).toBe(promotes.at(-1)!.to);
    expect(aliases.previousChampions).toEqual(promotes.slice(0, -1).map((e) => e.to));
  });
});

describe('canary deadlines', () => {
  /** A registry on a clock the test moves. */
  function timed(start = '2024-05-01T12:00:00.000Z') {
    let now = Date.parse(start);
    const clock: Clock = { now: () => new Date(now), today: () => new Date(now).toISOString().slice(0, 10) };
    const r = new ModelRegistry(store(), { clock, actor: 'test' });
    return { r, advance: (ms: number) => void (now += ms) };
  }

  it('a canary carries a deadline: the given one, else 60 minutes from now; it shows in aliases and the audit', async () => {
    const { r } = timed();
    const v1 = (await r.register(artifacts('1'))).version;
    const v2 = (await r.register(artifacts('2'))).version;
    await r.promote(v1);
    await r.setCanary(v2, 0.1);
    expect((await r.aliases()).canary).toEqual({
      version: v2,
      weight: 0.1,
      deadline: '2024-05-01T13:00:00.000Z',
    });
    expect((await r.history()).at(-1)?.why).toBe('canary at 0.1 until 2024-05-01T13:00:00.000Z');
    const changed = await r.setCanary(v2, 0.1, { deadline: new Date('2024-05-01T12:20:00Z') });
    expect(changed.entry?.aliases.canary?.deadline).toBe('2024-05-01T12:20:00.000Z');
  });

  it('refuses a deadline that is not ahead, or more than a week ahead', async () => {
    const { r } = timed();
    const v1 = (await r.register(artifacts('1'))).version;
    const v2 = (await r.register(artifacts('2'))).version;
    await r.promote(v1);
    for (const deadline of [
      new Date('2024-05-01T12:00:00Z'),
      new Date('2024-05-08T12:00:01Z'),
      new Date('not a date'),
    ])
      await expect(r.setCanary(v2, 0.1, { deadline })).rejects.toMatchObject({ code: 'BAD_CANARY_DEADLINE' });
    expect((await r.aliases()).canary).toBeNull();
  });

  it('expireCanary clears only a canary past its deadline, audited "canary expired"', async () => {
    const { r, advance } = timed();
    const v1 = (await r.register(artifacts('1'))).version;
    const v2 = (await r.register(artifacts('2'))).version;
    await r.promote(v1);
    await r.setCanary(v2, 0.1, { deadline: new Date('2024-05-01T12:10:00Z') });
    advance(599_999);
    expect((await r.expireCanary()).entry).toBeUndefined();
    advance(1);
    const { entry, aliases } = await r.expireCanary();
    expect(aliases).toMatchObject({ champion: v1, canary: null });
    expect(entry).toMatchObject({
      action: 'clear-canary',
      from: v2,
      to: null,
      why: 'canary expired: its deadline 2024-05-01T12:10:00.000Z passed before it was judged',
    });
    expect((await r.expireCanary()).entry).toBeUndefined();
  });

  it('a canary recorded before deadlines existed ends 60 minutes after it was set; an unreadable deadline has passed', () => {
    const legacy: Aliases = {
      ...EMPTY_ALIASES,
      champion: 'a',
      canary: { version: 'b', weight: 0.1 },
      updatedAt: '2024-05-01T12:00:00.000Z',
    };
    expect(canaryDeadline(legacy)?.toISOString()).toBe('2024-05-01T13:00:00.000Z');
    expect(canaryExpired(legacy, new Date('2024-05-01T12:59:59Z'))).toBe(false);
    expect(canaryExpired(legacy, new Date('2024-05-01T13:00:00Z'))).toBe(true);
    const garbled: Aliases = { ...legacy, canary: { version: 'b', weight: 0.1, deadline: 'soon' } };
    expect(canaryExpired(garbled, new Date('2024-05-01T12:00:00Z'))).toBe(true);
    expect(canaryExpired({ ...legacy, canary: null }, new Date('2100-01-01'))).toBe(false);
  });
});
