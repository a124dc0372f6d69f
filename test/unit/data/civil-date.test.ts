import { describe, expect, it } from '@jest/globals';
import {
  civilFromDays,
  daysFromCivil,
  daysFromIso,
  isoFromDays,
  wholeYearsBetweenDays,
} from '#lib/data/civil-date.ts';
import { SeededRandom } from '#lib/data/random.ts';

describe('civil dates', () => {
  it('agree with Date for every day from 1900 to 2100 and for the far-future sentinel', () => {
    const wrong: string[] = [];
    for (let d = daysFromCivil(1900, 1, 1); d <= daysFromCivil(2100, 12, 31); d += 1) {
      const iso = new Date(d * 86400000).toISOString().slice(0, 10);
      if (isoFromDays(d) !== iso || daysFromIso(iso) !== d) wrong.push(iso);
    }
    expect(wrong).toEqual([]);
    const far = daysFromIso('3022-03-01');
    expect(isoFromDays(far)).toBe('3022-03-01');
    expect(civilFromDays(daysFromCivil(2020, 2, 29))).toEqual([2020, 2, 29]);
  });

  it('count whole years with anniversary semantics, 29 February included', () => {
    const born = daysFromIso('2000-02-29');
    expect(wholeYearsBetweenDays(born, daysFromIso('2023-02-28'))).toBe(22);
    expect(wholeYearsBetweenDays(born, daysFromIso('2023-03-01'))).toBe(23);
    expect(wholeYearsBetweenDays(born, daysFromIso('2024-02-29'))).toBe(24);
  });
});

describe('SeededRandom', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const a = new SeededRandom(7);
    const b = new SeededRandom(7);
    const c = new SeededRandom(8);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it('draws uniforms in [0, 1) with mean 1/2 and normals with mean 0 and sd 1', () => {
    const r = new SeededRandom('x');
    const u = Array.from({ length: 20000 }, () => r.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((s, v) => s + v, 0) / u.length).toBeCloseTo(0.5, 1);
    const n = Array.from({ length: 20000 }, () => r.normal());
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const sd = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length);
    expect(mean).toBeCloseTo(0, 1);
    expect(sd).toBeCloseTo(1, 1);
  });
});
