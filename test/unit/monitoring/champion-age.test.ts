import { describe, expect, it } from '@jest/globals';
import { championAgeFromHistory } from '#lib/monitoring/champion-age.ts';
import type { AuditEntry } from '#lib/registry/audit.ts';

function entry(seq: number, at: string, champion: string | null): AuditEntry {
  return {
    seq,
    at,
    action: 'promote',
    from: null,
    to: champion,
    why: 'test',
    aliases: { seq, champion, canary: null, previousChampions: [], updatedAt: at },
  };
}

describe('champion age', () => {
  it('counts from the entry that made the current champion, not from later entries that kept it', () => {
    const age = championAgeFromHistory(
      [
        entry(1, '2026-01-01T00:00:00Z', 'a'),
        entry(2, '2026-01-10T00:00:00Z', 'b'),
        entry(3, '2026-01-12T00:00:00Z', 'b'), // e.g. a canary set and cleared
      ],
      new Date('2026-01-20T12:00:00Z'),
    );
    expect(age).toEqual({ version: 'b', since: '2026-01-10T00:00:00Z', days: 10.5 });
  });

  it('a rollback that puts an old champion back starts its count again', () => {
    const age = championAgeFromHistory(
      [
        entry(2, '2026-01-10T00:00:00Z', 'b'),
        entry(1, '2026-01-01T00:00:00Z', 'a'),
        entry(3, '2026-01-15T00:00:00Z', 'a'),
      ],
      new Date('2026-01-16T00:00:00Z'),
    );
    expect(age).toMatchObject({ version: 'a', days: 1 });
  });

  it('no champion: no age', () => {
    expect(championAgeFromHistory([], new Date())).toBeUndefined();
    expect(championAgeFromHistory([entry(1, '2026-01-01T00:00:00Z', null)], new Date())).toBeUndefined();
  });
});
