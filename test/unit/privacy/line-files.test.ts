import { describe, expect, it } from '@jest/globals';
import { closeSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { filterLines, filterLinesInPlace } from '#lib/privacy/line-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'cr-line-files-'));
const line = (id: string, n: number) => `{"message":"prediction","customerId":"${id}","n":${n}}\n`;

describe('line files without the lines that mention a customer', () => {
  it('plain and gzip: only lines naming the id as a token go', async () => {
    const text =
      line('5008827', 1) +
      line('50088271', 2) +
      line('5008828', 3) +
      'no customer with id 5008827\n' +
      'tail';
    const plain = join(dir, 'a.jsonl');
    writeFileSync(plain, text);
    expect(await filterLines(plain, plain, '5008827')).toEqual({ lines: 5, removed: 2 });
    expect(readFileSync(plain, 'utf8')).toBe(line('50088271', 2) + line('5008828', 3) + 'tail');
    const gz = join(dir, 'a.jsonl.1.gz');
    writeFileSync(gz, gzipSync(text));
    expect(await filterLinesInPlace(gz, '5008827')).toEqual({ lines: 5, removed: 2 });
    expect(gunzipSync(readFileSync(gz)).toString()).toBe(line('50088271', 2) + line('5008828', 3) + 'tail');
  });

  it('in place: the file keeps its inode, so a process appending to it keeps writing into it', async () => {
    const file = join(dir, 'predict.jsonl');
    let text = '';
    for (let i = 0; i < 50_000; i++) text += line(i % 10 === 0 ? '5008827' : String(6_000_000 + i), i);
    writeFileSync(file, text);
    const appender = openSync(file, 'a'); // as local/server/telemetry-sink.ts holds it
    const inode = statSync(file).ino;
    const r = await filterLinesInPlace(file, '5008827');
    expect(r).toEqual({ lines: 50_000, removed: 5_000 });
    writeSync(appender, line('5000001', -1));
    closeSync(appender);
    expect(statSync(file).ino).toBe(inode);
    const after = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(after).toHaveLength(45_001);
    expect(after.some((l) => l.includes('"5008827"'))).toBe(false);
    expect(after.at(-1)).toBe(line('5000001', -1).trim());
    expect(await filterLinesInPlace(file, '5008827')).toEqual({ lines: 45_001, removed: 0 });
  });
});
