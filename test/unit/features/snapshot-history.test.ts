import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import {
  MAX_EARLIER_SNAPSHOTS,
  appendSnapshotAudit,
  defaultRollbackTarget,
  earlierAfter,
  historyRows,
  snapshotAuditLog,
  type SnapshotAuditEntry,
  type SnapshotAuditFields,
} from '#lib/features/snapshot-history.ts';

const change = (
  action: 'publish' | 'rollback',
  snapshotId: string,
  previousSnapshotId: string | null,
): SnapshotAuditFields => ({
  at: '2025-03-01T12:00:00.000Z',
  action,
  snapshotId,
  previousSnapshotId,
  rows: 10,
  customers: 5,
  quarantined: 0,
  publisher: 'test',
  reason: null,
  forced: false,
  overridden: [],
});

/** The log's entries after a sequence of changes, each appended as publish.ts does. */
function replay(changes: SnapshotAuditFields[]): SnapshotAuditEntry[] {
  const out: SnapshotAuditEntry[] = [];
  for (const c of changes) out.push({ ...c, seq: out.length + 1, earlier: earlierAfter(out.at(-1), c) });
  return out;
}

describe('the rollback stack of the snapshot audit log', () => {
  it('publishes push the snapshot they replace; a rollback pops back to it, twice goes two back', () => {
    const log = replay([
      change('publish', 'A', null),
      change('publish', 'B', 'A'),
      change('publish', 'C', 'B'),
    ]);
    expect(log.map((e) => e.earlier)).toEqual([[], ['A'], ['A', 'B']]);
    expect(defaultRollbackTarget(log.at(-1), 'C', 'C')).toBe('B');
    const back = replay([...log, change('rollback', 'B', 'C')]);
    expect(back.at(-1)?.earlier).toEqual(['A']);
    expect(defaultRollbackTarget(back.at(-1), 'B', 'B')).toBe('A');
    const twice = replay([...log, change('rollback', 'B', 'C'), change('rollback', 'A', 'B')]);
    expect(twice.at(-1)?.earlier).toEqual([]);
    expect(defaultRollbackTarget(twice.at(-1), 'A', 'A')).toBeUndefined();
  });

  it('a rollback --to an older snapshot drops everything after it; republishing the current one changes nothing', () => {
    const log = replay([
      change('publish', 'A', null),
      change('publish', 'B', 'A'),
      change('publish', 'C', 'B'),
      change('rollback', 'A', 'C'),
    ]);
    expect(log.at(-1)?.earlier).toEqual([]);
    expect(earlierAfter(log.at(-1), change('publish', 'A', 'A'))).toEqual([]);
  });

  it('an erase maps the stack to the rewritten ids and pushes nothing: rollback goes to the rewritten earlier snapshot', () => {
    const log = replay([
      change('publish', 'A', null),
      change('publish', 'B', 'A'),
      change('publish', 'C', 'B'),
    ]);
    const erase: SnapshotAuditFields = {
      ...change('publish', 'C2', 'C'),
      action: 'erase',
      erasure: { subject: 'hmac-sha256:00', replaced: { A: 'A2', C: 'C2' } },
    };
    const after = replay([...log, erase]);
    expect(after.at(-1)?.earlier).toEqual(['A2', 'B']);
    expect(defaultRollbackTarget(after.at(-1), 'C2', 'C2')).toBe('B');
    const back = replay([...after, change('rollback', 'B', 'C2')]);
    expect(defaultRollbackTarget(back.at(-1), 'B', 'B')).toBe('A2');
    // An erase that left CURRENT where it was (it held no row of the customer) maps the stack alone.
    const only = replay([
      ...log,
      {
        ...erase,
        snapshotId: 'C',
        previousSnapshotId: 'C',
        erasure: { subject: 'h', replaced: { B: 'B2' } },
      },
    ]);
    expect(only.at(-1)?.earlier).toEqual(['A', 'B2']);
  });

  it('remembers at most MAX_EARLIER_SNAPSHOTS earlier snapshots', () => {
    const changes = [change('publish', 's0', null)];
    for (let i = 1; i <= MAX_EARLIER_SNAPSHOTS + 5; i++)
      changes.push(change('publish', `s${i}`, `s${i - 1}`));
    const last = replay(changes).at(-1);
    expect(last?.earlier).toHaveLength(MAX_EARLIER_SNAPSHOTS);
    expect(last?.earlier.at(-1)).toBe(`s${MAX_EARLIER_SNAPSHOTS + 4}`);
  });

  it('when CURRENT moved without an entry: back to the newest audited snapshot; an interrupted change is finished or undone', () => {
    const log = replay([change('publish', 'A', null), change('publish', 'B', 'A')]);
    // CURRENT names L, published before the log existed; online serves L too.
    expect(defaultRollbackTarget(log.at(-1), 'L', 'L')).toBe('B');
    // A publish of X was audited and loaded online, but CURRENT still names B: undo it (back to B).
    const interrupted = replay([...log, change('publish', 'X', 'B')]);
    expect(defaultRollbackTarget(interrupted.at(-1), 'B', 'X')).toBe('B');
    // A rollback to A was audited and loaded online, but CURRENT still names B: finish it.
    const halfBack = replay([...log, change('rollback', 'A', 'B')]);
    expect(defaultRollbackTarget(halfBack.at(-1), 'B', 'A')).toBe('A');
    expect(defaultRollbackTarget(undefined, 'B', 'B')).toBeUndefined();
  });
});

describe('the history rows', () => {
  it('newest first, CURRENT marked on the newest entry of its snapshot', () => {
    const log = replay([
      change('publish', 'A', null),
      change('publish', 'B', 'A'),
      change('rollback', 'A', 'B'),
    ]);
    const rows = historyRows(log, { snapshotId: 'A', publishedAt: '2025-03-01T12:00:00.000Z' });
    expect(rows.map((r) => [r.seq, r.action, r.snapshotId, r.current])).toEqual([
      [3, 'rollback', 'A', true],
      [2, 'publish', 'B', false],
      [1, 'publish', 'A', false],
    ]);
  });

  it('a CURRENT no entry records is listed first, unaudited', () => {
    const rows = historyRows(replay([change('publish', 'A', null)]), {
      snapshotId: 'L',
      publishedAt: '2024-01-01T00:00:00.000Z',
    });
    expect(rows[0]).toMatchObject({
      seq: null,
      snapshotId: 'L',
      current: true,
      audited: false,
      publisher: null,
    });
    expect(rows[1]).toMatchObject({ seq: 1, snapshotId: 'A', current: false, audited: true });
    expect(historyRows([], undefined)).toEqual([]);
  });
});

describe('appendSnapshotAudit (the registry AuditLog class over features/audit/)', () => {
  it('writes one create-if-absent object per entry, numbered on, with its rollback stack', async () => {
    const store = new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-snap-audit-')));
    const a = await appendSnapshotAudit(store, change('publish', 'A', null));
    const b = await appendSnapshotAudit(store, change('publish', 'B', 'A'));
    expect([a.seq, b.seq, b.earlier]).toEqual([1, 2, ['A']]);
    expect((await store.list('features/audit/')).map((o) => o.key)).toEqual([
      'features/audit/0000000001.json',
      'features/audit/0000000002.json',
    ]);
    const log = snapshotAuditLog(store);
    expect(await log.latest()).toEqual(b);
    // A writer that read the log before entry 2 existed loses the race for seq 2 and retries at 3.
    const c = await appendSnapshotAudit(store, change('publish', 'C', 'B'), { latest: a });
    expect(c.seq).toBe(3);
    expect(c.earlier).toEqual(['A', 'B']);
    expect((await log.entries()).map((e) => e.snapshotId)).toEqual(['A', 'B', 'C']);
  });
});
