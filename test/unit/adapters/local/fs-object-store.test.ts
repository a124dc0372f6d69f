import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { ObjectExistsError, getJson } from '#lib/ports/object-store.ts';

const fresh = () => new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-store-')));

describe('FsObjectStore', () => {
  it('round-trips bytes and reports a missing key as undefined', async () => {
    const s = fresh();
    await s.put('models/m/aliases.json', JSON.stringify({ champion: 'abc' }));
    expect(await getJson(s, 'models/m/aliases.json')).toEqual({ champion: 'abc' });
    expect(await s.get('models/m/missing.json')).toBeUndefined();
    expect(await s.head('models/m/missing.json')).toBeUndefined();
  });

  it('lists every key under a prefix, sorted, without temp files', async () => {
    const s = fresh();
    await s.put('features/snapshot=b/part-1.parquet', 'x');
    await s.put('features/snapshot=a/part-0.parquet', 'yy');
    await s.put('features/CURRENT', 'a');
    await s.put('models/m/1/model.onnx', 'z');
    const keys = (await s.list('features/snapshot=')).map((o) => o.key);
    expect(keys).toEqual(['features/snapshot=a/part-0.parquet', 'features/snapshot=b/part-1.parquet']);
    expect(readdirSync(join(s.root, 'features')).some((n) => n.startsWith('.tmp-'))).toBe(false);
  });

  it('refuses to overwrite with ifAbsent, keeping the first bytes', async () => {
    const s = fresh();
    await s.put('models/m/v1/model.onnx', 'first', { ifAbsent: true });
    await expect(s.put('models/m/v1/model.onnx', 'second', { ifAbsent: true })).rejects.toBeInstanceOf(
      ObjectExistsError,
    );
    expect(new TextDecoder().decode(await s.get('models/m/v1/model.onnx'))).toBe('first');
  });

  it('rejects keys that would escape the root', async () => {
    const s = fresh();
    await expect(s.put('../evil', 'x')).rejects.toThrow(/invalid object key/);
    await expect(s.get('/abs')).rejects.toThrow(/invalid object key/);
  });
});
