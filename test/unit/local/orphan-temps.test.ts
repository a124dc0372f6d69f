import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCrashAt } from '#lib/crash-point.ts';
import { sweepOrphanTemps, TEMP_NAME } from '#local/orphan-temps.ts';

const DEAD = 999_999_901;
const LIVE = 4242;
const isAlive = (pid: number) => pid === LIVE;

describe('sweepOrphanTemps', () => {
  it('removes the temps of dead writers, keeps live writers temps and every other file', () => {
    const root = mkdtempSync(join(tmpdir(), 'cr-orphans-'));
    const os = mkdtempSync(join(tmpdir(), 'cr-orphans-os-'));
    mkdirSync(join(root, 'store/features/audit'), { recursive: true });
    mkdirSync(join(root, 'pglite'), { recursive: true });
    const dead = [
      `store/features/audit/.tmp-${DEAD}-6e98a36c-4c22-4b55-b2ee-078d01d40488`,
      `runs/r1/run.json.tmp-${DEAD}-2a`,
      `data/x.parquet.tmp-erase-${DEAD}.parquet`,
      `data/.model.onnx.tmp-${DEAD}`,
    ];
    const kept = [
      `store/features/audit/.tmp-${LIVE}-6e98a36c`,
      'store/features/audit/0000000001.json',
      `pglite/base.tmp-${DEAD}`,
      'data/loans.tmp.csv',
    ];
    for (const f of [...dead, ...kept]) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), 'x');
    }
    // A temp directory (a build, a PGlite copy) goes as a whole.
    mkdirSync(join(root, `builds/.tmp-${DEAD}-abc/model`), { recursive: true });
    writeFileSync(join(os, `cr-online-csv-${DEAD}-Ab12`), 'rows');
    writeFileSync(join(os, `cr-online-csv-${LIVE}-Ab12`), 'rows');

    const removed = sweepOrphanTemps(root, { skip: [join(root, 'pglite')], osTemp: os, isAlive });

    expect(removed.sort()).toEqual(
      [
        ...dead.map((f) => join(root, f)),
        join(root, `builds/.tmp-${DEAD}-abc`),
        join(os, `cr-online-csv-${DEAD}-Ab12`),
      ].sort(),
    );
    for (const f of kept) expect(existsSync(join(root, f))).toBe(true);
    expect(existsSync(join(os, `cr-online-csv-${LIVE}-Ab12`))).toBe(true);
  });

  it('reads the pid from every temp name the writers use, and nothing from other names', () => {
    expect(TEMP_NAME.exec('.tmp-123-uuid')?.[1]).toBe('123');
    expect(TEMP_NAME.exec('run.json.tmp-77-uuid')?.[1]).toBe('77');
    expect(TEMP_NAME.exec('q.csv.tmp-erase-probe-5')?.[1]).toBe('5');
    expect(TEMP_NAME.exec('pglite.tmp-9-1733500000000')?.[1]).toBe('9');
    expect(TEMP_NAME.exec('.tmp-98dcd327-9092')).toBeNull();
    expect(TEMP_NAME.exec('loans.tmp.csv')).toBeNull();
  });
});

describe('parseCrashAt', () => {
  it('takes a name and an optional n-th hit', () => {
    expect(parseCrashAt(undefined)).toBeUndefined();
    expect(parseCrashAt('')).toBeUndefined();
    expect(parseCrashAt('pipeline:Train')).toEqual({ name: 'pipeline:Train', nth: 1 });
    expect(parseCrashAt('registry:promote:after-audit-entry@2')).toEqual({
      name: 'registry:promote:after-audit-entry',
      nth: 2,
    });
  });
});
