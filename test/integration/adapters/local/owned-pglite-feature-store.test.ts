import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { OwnedPgliteFeatureStore } from '#lib/adapters/local/owned-pglite-feature-store.ts';
import { tryListen, ownerAddress } from '#lib/adapters/local/store-owner-channel.ts';
import { testRow } from '../../../support/feature-rows.ts';

const repo = resolve(import.meta.dirname, '../../../..');
const CHILD = join(repo, 'test/support/owned-store-child.ts');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A second process on the store; resolves the lines it prints, one by one. */
function child(
  dataDir: string,
  ...args: string[]
): { proc: ChildProcess; next: () => Promise<Record<string, unknown>> } {
  const proc = spawn(process.execPath, ['--import', 'tsx/esm', CHILD, dataDir, ...args], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return {
    proc,
    next: async () => {
      const { value, done } = await lines.next();
      if (done) throw new Error(`child ${args.join(' ')} ended without output (exit ${proc.exitCode})`);
      return JSON.parse(value as string) as Record<string, unknown>;
    },
  };
}

const exited = (p: ChildProcess) =>
  new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

async function allRows(store: OwnedPgliteFeatureStore): Promise<number> {
  let n = 0;
  for await (const page of store.scanRows(7)) n += page.length;
  return n;
}

describe('OwnedPgliteFeatureStore: one process opens a PGlite directory, the others go through it', () => {
  it('the directory address is held by one process only, and freed when it closes', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cr-owned-')), 'pglite');
    const store = new OwnedPgliteFeatureStore(dir);
    expect(await store.owner()).toMatchObject({ self: true, pid: process.pid });
    expect(await tryListen(ownerAddress(dir))).toBeUndefined();
    await store.close();
    const free = await tryListen(ownerAddress(dir));
    expect(free).toBeDefined();
    free!.close();
  }, 60_000);

  it('a second process loads through the owner; when the owner stops it takes over with the data intact', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cr-owned-')), 'pglite');
    const holder = child(dir, 'hold');
    const held = await holder.next();
    expect(held.owner).toMatchObject({ self: true, pid: holder.proc.pid });

    const store = new OwnedPgliteFeatureStore(dir);
    expect(await store.owner()).toMatchObject({ self: false, pid: holder.proc.pid });
    const rows = Array.from({ length: 25 }, (_, i) => testRow(String(5000 + i), 's1', i + 1));
    await expect(store.replaceSnapshot('s1', [rows])).resolves.toEqual({ rows: 25 });
    expect(await store.currentSnapshot()).toBe('s1');
    expect(await store.get('5003')).toEqual(rows[3]);
    expect(await allRows(store)).toBe(25);

    // A third process sees the same through the same owner.
    const third = child(dir, 'current');
    expect(await third.next()).toMatchObject({
      snapshotId: 's1',
      owner: { self: false, pid: holder.proc.pid },
    });
    expect(await exited(third.proc)).toBe(0);

    holder.proc.kill('SIGTERM');
    expect(await holder.next()).toEqual({ closed: true });
    expect(await exited(holder.proc)).toBe(0);

    // The next call finds the owner gone: this process becomes the owner, on the same data.
    expect(await store.currentSnapshot()).toBe('s1');
    expect(await store.owner()).toMatchObject({ self: true, pid: process.pid });
    expect(await store.get('5024')).toEqual(rows[24]);
    await store.close();
  }, 120_000);

  it('an owner killed with SIGKILL frees the directory: the next user opens it, snapshot whole', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cr-owned-')), 'pglite');
    const loader = child(dir, 'load', 'k1', '40');
    expect(await loader.next()).toMatchObject({ rows: 40, owner: { self: true } });
    expect(await exited(loader.proc)).toBe(0);

    const holder = child(dir, 'hold');
    await holder.next();
    const store = new OwnedPgliteFeatureStore(dir);
    expect(await store.owner()).toMatchObject({ self: false, pid: holder.proc.pid });
    holder.proc.kill('SIGKILL');
    await exited(holder.proc);

    expect(await store.currentSnapshot()).toBe('k1');
    expect(await store.owner()).toMatchObject({ self: true });
    expect(await allRows(store)).toBe(40);
    // Still writable after the takeover.
    await expect(store.replaceSnapshot('k2', [[testRow('1', 'k2', 1)]])).resolves.toEqual({ rows: 1 });
    await store.close();
  }, 120_000);

  it('loads from two client processes at once both land, one after the other, on one owner', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cr-owned-')), 'pglite');
    const holder = child(dir, 'hold');
    await holder.next();
    const a = child(dir, 'load', 'a', '30');
    const b = child(dir, 'load', 'b', '50');
    const [ra, rb] = await Promise.all([a.next(), b.next()]);
    expect(ra).toMatchObject({ rows: 30, owner: { self: false, pid: holder.proc.pid } });
    expect(rb).toMatchObject({ rows: 50, owner: { self: false, pid: holder.proc.pid } });
    holder.proc.kill('SIGTERM');
    await exited(holder.proc);
    const store = new OwnedPgliteFeatureStore(dir);
    const current = await store.currentSnapshot();
    expect(['a', 'b']).toContain(current);
    expect(await allRows(store)).toBe(current === 'a' ? 30 : 50);
    await store.close();
  }, 120_000);

  it('shared() gives one instance per directory per process', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cr-owned-')), 'pglite');
    expect(OwnedPgliteFeatureStore.shared(dir)).toBe(OwnedPgliteFeatureStore.shared(join(dir, '.')));
  });
});
