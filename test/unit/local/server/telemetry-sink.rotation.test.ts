import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineFile, rotatedName, rotationFromEnv, DEFAULT_ROTATION } from '#local/server/telemetry-sink.ts';

/** Lines n..m, each about 100 bytes, numbered so order and loss show. */
const line = (n: number) => `{"level":"INFO","message":"prediction","n":${n},"pad":"${'x'.repeat(60)}"}\n`;

function files(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Every line of the stream, oldest file first. */
function stream(path: string, keep: number): string[] {
  const paths = [];
  for (let n = keep; n >= 1; n--) paths.push(rotatedName(path, n));
  paths.push(path);
  return paths
    .filter((p) => existsSync(p))
    .flatMap((p) => readFileSync(p, 'utf8').split('\n').filter(Boolean));
}

describe('LineFile rotation by size', () => {
  it('keeps at most keep rotated files of about maxBytes, newest lines last, nothing lost below the cap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-rotate-'));
    const path = join(dir, 'predict.jsonl');
    const policy = { maxBytes: 2000, keep: 3 };
    const f = new LineFile(path, policy);
    // 50 lines of ~100 bytes per flush batch; 1,000 lines in all: far above the cap (4 x 2,000 bytes).
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 50; i++) f.add(line(batch * 50 + i));
      f.flush();
    }
    f.close();
    expect(files(dir)).toEqual(['predict.1.jsonl', 'predict.2.jsonl', 'predict.3.jsonl', 'predict.jsonl']);
    // A file is rotated once a write takes it to maxBytes: it holds at most maxBytes plus one batch.
    const batchBytes = 50 * line(999).length;
    for (const name of files(dir))
      expect(statSync(join(dir, name)).size).toBeLessThan(policy.maxBytes + batchBytes);
    const kept = stream(path, policy.keep).map((l) => (JSON.parse(l) as { n: number }).n);
    // What is kept is the newest lines, contiguous and in order, up to the last one written.
    expect(kept.at(-1)).toBe(999);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 1000 - kept.length + i));
  });

  it('loses nothing while the stream stays below the cap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-rotate-'));
    const path = join(dir, 'predict.emf.jsonl');
    const policy = { maxBytes: 1500, keep: 4 };
    const f = new LineFile(path, policy);
    // 60 lines, ~6,000 bytes: below (keep + 1) x maxBytes = 7,500, rotated several times.
    for (let n = 0; n < 60; n++) {
      f.add(line(n));
      if (n % 7 === 6) f.flush();
    }
    f.close();
    expect(files(dir)).toContain('predict.emf.1.jsonl');
    expect(stream(path, policy.keep)).toEqual(Array.from({ length: 60 }, (_, n) => line(n).trimEnd()));
  });

  it('a writer whose file another process rotated reopens it, and a lock left by a dead process is taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-rotate-'));
    const path = join(dir, 'predict.jsonl');
    const policy = { maxBytes: 1000, keep: 2 };
    const a = new LineFile(path, policy);
    const b = new LineFile(path, policy);
    writeFileSync(`${path}.rotate-lock`, '999999901'); // a pid that does not run
    for (let n = 0; n < 12; n++) a.add(line(n));
    a.flush(); // over 1,000 bytes: a rotates, taking the dead writer's lock over
    expect(existsSync(rotatedName(path, 1))).toBe(true);
    expect(existsSync(`${path}.rotate-lock`)).toBe(false);
    await new Promise((r) => setTimeout(r, 1100));
    b.add(line(100));
    b.flush(); // b's descriptor still pointed at predict.1.jsonl: it reopens predict.jsonl first
    a.close();
    b.close();
    expect(readFileSync(path, 'utf8')).toBe(line(100));
  });
});

describe('rotationFromEnv', () => {
  it('reads MB and the count, with defaults, and refuses nonsense', () => {
    expect(rotationFromEnv({})).toEqual(DEFAULT_ROTATION);
    expect(rotationFromEnv({ CREDIT_RISK_LOG_MAX_MB: '8', CREDIT_RISK_LOG_KEEP: '2' })).toEqual({
      maxBytes: 8 * 1024 * 1024,
      keep: 2,
    });
    expect(() => rotationFromEnv({ CREDIT_RISK_LOG_KEEP: '0' })).toThrow(/CREDIT_RISK_LOG_KEEP/);
    expect(() => rotationFromEnv({ CREDIT_RISK_LOG_MAX_MB: 'lots' })).toThrow(/CREDIT_RISK_LOG_MAX_MB/);
  });
});
