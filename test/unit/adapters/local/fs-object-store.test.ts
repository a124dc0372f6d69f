import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
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

  it('hashes an unchanged file once, and again when it is rewritten in place behind its back', async () => {
    const s = fresh();
    await s.put('raw/loans.csv', 'id,amount\n1,10\n');
    const file = join(s.root, 'raw', 'loans.csv');
    const first = await s.head('raw/loans.csv');
    // Same bytes, same inode and times: the remembered hash, which is the hash of the bytes.
    expect((await s.head('raw/loans.csv'))?.etag).toBe(first?.etag);
    expect(first?.etag).toBe(createHash('md5').update('id,amount\n1,10\n').digest('hex'));
    // In place, as many bytes (the inode stays): mtime and ctime move, so it is hashed again.
    await new Promise((r) => setTimeout(r, 5));
    writeFileSync(file, 'id,amount\n1,99\n');
    const after = await s.head('raw/loans.csv');
    expect(after?.etag).toBe(createHash('md5').update('id,amount\n1,99\n').digest('hex'));
  });

  it('rejects keys that would escape the root', async () => {
    const s = fresh();
    await expect(s.put('../evil', 'x')).rejects.toThrow(/invalid object key/);
    await expect(s.get('/abs')).rejects.toThrow(/invalid object key/);
  });
});
