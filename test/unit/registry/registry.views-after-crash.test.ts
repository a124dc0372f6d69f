import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { getJson, getText } from '#lib/ports/object-store.ts';
import type { Aliases } from '#lib/registry/aliases.ts';
import type { AuditEntry } from '#lib/registry/audit.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';

/**
 * A writer killed after appending its audit entry leaves aliases.json and audit.jsonl (derived
 * views) behind the log. Re-running the same command (a no-op change) rewrites both. The kill
 * itself, with SIGKILL in a real process, is test/e2e/crash-matrix.test.ts.
 */
const enc = new TextEncoder();

async function setUp() {
  const s = new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-registry-views-')));
  const r = new ModelRegistry(s, { clock: fixedClock('2024-05-01'), actor: 'test' });
  const a = await r.register({ model: enc.encode('a'), card: '{}', report: '' });
  const b = await r.register({ model: enc.encode('b'), card: '{}', report: '' });
  await r.promote(a.version);
  return { s, r, a: a.version, b: b.version };
}

const jsonlSeqs = async (s: FsObjectStore) =>
  ((await getText(s, 'models/credit-risk/audit.jsonl')) ?? '')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as AuditEntry).seq);

describe('registry views after a crash between the audit entry and the views', () => {
  it('a re-run of the change brings aliases.json and audit.jsonl up to the log', async () => {
    const { s, r, b } = await setUp();
    const viewsBefore = {
      aliases: await getText(s, 'models/credit-risk/aliases.json'),
      jsonl: await getText(s, 'models/credit-risk/audit.jsonl'),
    };
    await r.promote(b);
    // Put the views back as a writer killed right after its entry would have left them.
    await s.put('models/credit-risk/aliases.json', viewsBefore.aliases ?? '');
    await s.put('models/credit-risk/audit.jsonl', viewsBefore.jsonl ?? '');
    expect(await jsonlSeqs(s)).toEqual([1, 2, 3]);
    // The log is the truth: readers already see the promote.
    expect((await r.aliases()).champion).toBe(b);

    const again = await r.promote(b);
    expect(again.entry).toBeUndefined();
    expect(await jsonlSeqs(s)).toEqual([1, 2, 3, 4]);
    const cached = await getJson<Aliases>(s, 'models/credit-risk/aliases.json');
    expect(cached).toMatchObject({ seq: 4, champion: b });
  });

  it('completeViews does the same without a change, and nothing when the views are current', async () => {
    const { s, r, b } = await setUp();
    const stale = await getText(s, 'models/credit-risk/aliases.json');
    await r.promote(b);
    await s.put('models/credit-risk/aliases.json', stale ?? '');
    await r.completeViews();
    expect(await getJson<Aliases>(s, 'models/credit-risk/aliases.json')).toMatchObject({
      seq: 4,
      champion: b,
    });
    expect(await jsonlSeqs(s)).toEqual([1, 2, 3, 4]);
    const puts: string[] = [];
    const put = s.put.bind(s);
    s.put = async (key, body, options) => {
      puts.push(key);
      return put(key, body, options);
    };
    await r.completeViews();
    expect(puts).toEqual([]);
  });

  it('writes audit.jsonl before aliases.json, so a current aliases.json means a whole jsonl', async () => {
    const { s, r, b } = await setUp();
    const order: string[] = [];
    const put = s.put.bind(s);
    s.put = async (key, body, options) => {
      order.push(key);
      return put(key, body, options);
    };
    await r.promote(b);
    expect(order.filter((k) => !k.includes('/audit/'))).toEqual([
      'models/credit-risk/audit.jsonl',
      'models/credit-risk/aliases.json',
    ]);
  });
});
