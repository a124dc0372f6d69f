import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectExistsError, getJson, getText, type ObjectStore } from '#lib/ports/object-store.ts';

/**
 * The ObjectStore contract: what every adapter (a directory on disk, S3) must do alike. Call it
 * inside a describe(); `open` gives a store over an empty bucket or directory.
 */
export interface ObjectStoreSubject {
  store: ObjectStore;
  close?(): Promise<void>;
}

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

export function objectStoreContract(open: () => Promise<ObjectStoreSubject>): void {
  let subject: ObjectStoreSubject;
  let store: ObjectStore;
  const work = mkdtempSync(join(tmpdir(), 'cr-object-contract-'));

  beforeAll(async () => {
    subject = await open();
    store = subject.store;
  });
  afterAll(async () => {
    await subject?.close?.();
  });

  it('a missing key: get, head and getJson answer undefined, delete is a no-op', async () => {
    expect(await store.get('nothing/here.json')).toBeUndefined();
    expect(await store.head('nothing/here.json')).toBeUndefined();
    expect(await getJson(store, 'nothing/here.json')).toBeUndefined();
    await expect(store.delete('nothing/here.json')).resolves.toBeUndefined();
  });

  it('put then get returns the bytes as written (text and binary), head gives size and an etag', async () => {
    const binary = new Uint8Array(256).map((_, i) => i);
    await store.put('rt/text.json', '{"a":"é"}', { contentType: 'application/json' });
    await store.put('rt/binary.bin', binary);
    expect(await getText(store, 'rt/text.json')).toBe('{"a":"é"}');
    expect(await getJson(store, 'rt/text.json')).toEqual({ a: 'é' });
    expect(Buffer.from((await store.get('rt/binary.bin'))!)).toEqual(Buffer.from(binary));
    const info = await store.head('rt/text.json');
    expect(info).toMatchObject({ key: 'rt/text.json', size: Buffer.byteLength('{"a":"é"}') });
    expect(info?.etag).toEqual(expect.any(String));
  });

  it('an overwrite replaces the bytes and changes the etag', async () => {
    await store.put('ow/x.txt', 'one');
    const before = await store.head('ow/x.txt');
    await store.put('ow/x.txt', 'two!');
    const after = await store.head('ow/x.txt');
    expect(text(await store.get('ow/x.txt'))).toBe('two!');
    expect(after?.size).toBe(4);
    expect(after?.etag).not.toBe(before?.etag);
  });

  it('an overwrite with as many bytes changes the etag too, and an unchanged object keeps its etag', async () => {
    await store.put('ow/same-size.txt', 'abc');
    const first = await store.head('ow/same-size.txt');
    expect((await store.head('ow/same-size.txt'))?.etag).toBe(first?.etag);
    await store.put('ow/same-size.txt', 'xyz');
    const after = await store.head('ow/same-size.txt');
    expect(after?.size).toBe(3);
    expect(after?.etag).not.toBe(first?.etag);
  });

  it('create-if-absent: the first put wins, a second one fails with ObjectExistsError and changes nothing', async () => {
    await store.put('immutable/model.onnx', 'first', { ifAbsent: true });
    const second = store.put('immutable/model.onnx', 'second', { ifAbsent: true });
    await expect(second).rejects.toBeInstanceOf(ObjectExistsError);
    await expect(second).rejects.toMatchObject({ code: 'OBJECT_EXISTS', key: 'immutable/model.onnx' });
    expect(text(await store.get('immutable/model.onnx'))).toBe('first');
    const file = join(work, 'upload-if-absent.txt');
    writeFileSync(file, 'third');
    await expect(store.upload(file, 'immutable/model.onnx', { ifAbsent: true })).rejects.toBeInstanceOf(
      ObjectExistsError,
    );
    expect(text(await store.get('immutable/model.onnx'))).toBe('first');
  });

  it('create-if-absent under contention: of 8 writers racing for one key exactly one wins', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.put('race/key', `writer-${i}`, { ifAbsent: true })),
    );
    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ObjectExistsError);
    expect(text(await store.get('race/key'))).toBe(`writer-${won[0]}`);
  });

  it('a put is atomic: readers racing an overwrite see the old bytes or the new ones, never a mix', async () => {
    const a = Buffer.alloc(512 * 1024, 'a');
    const b = Buffer.alloc(512 * 1024, 'b');
    await store.put('atomic/blob', a);
    const reads: Promise<Uint8Array | undefined>[] = [];
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      writes.push(store.put('atomic/blob', i % 2 === 0 ? b : a));
      reads.push(store.get('atomic/blob'), store.get('atomic/blob'));
    }
    await Promise.all(writes);
    for (const r of await Promise.all(reads)) {
      const got = Buffer.from(r!);
      expect(got.length).toBe(a.length);
      expect(got.equals(a) || got.equals(b)).toBe(true);
    }
  });

  it('list: every key under the prefix, sorted, with sizes, nothing outside it', async () => {
    await store.put('ls/b/2.txt', '22');
    await store.put('ls/a.txt', '1');
    await store.put('ls/b/1.txt', '333');
    await store.put('lsx/other.txt', 'x');
    const listed = await store.list('ls/');
    expect(listed.map((o) => [o.key, o.size])).toEqual([
      ['ls/a.txt', 1],
      ['ls/b/1.txt', 3],
      ['ls/b/2.txt', 2],
    ]);
    expect((await store.list('ls/b/')).map((o) => o.key)).toEqual(['ls/b/1.txt', 'ls/b/2.txt']);
    expect(await store.list('no-such-prefix/')).toEqual([]);
  });

  it('list pages past 1,000 keys (S3 answers at most 1,000 per call) and returns all of them', async () => {
    const n = 1_050;
    const keys = Array.from({ length: n }, (_, i) => `many/part-${String(i).padStart(5, '0')}.txt`);
    for (let i = 0; i < keys.length; i += 50)
      await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'x')));
    const listed = await store.list('many/');
    expect(listed).toHaveLength(n);
    expect(listed.map((o) => o.key)).toEqual(keys);
  }, 120_000);

  it('delete removes the object from get, head and list', async () => {
    await store.put('del/x.txt', 'x');
    await store.delete('del/x.txt');
    expect(await store.get('del/x.txt')).toBeUndefined();
    expect(await store.head('del/x.txt')).toBeUndefined();
    expect(await store.list('del/')).toEqual([]);
  });

  it('upload and download move whole files; downloading a missing key fails and leaves no file', async () => {
    const src = join(work, 'src.parquet');
    const bytes = Buffer.alloc(300_000).map((_, i) => (i * 31) % 251);
    writeFileSync(src, bytes);
    await store.upload(src, 'files/part-00000.parquet');
    expect((await store.head('files/part-00000.parquet'))?.size).toBe(bytes.length);
    const dest = join(work, 'nested', 'dir', 'copy.parquet');
    await store.download('files/part-00000.parquet', dest);
    expect(readFileSync(dest).equals(bytes)).toBe(true);
    const missing = join(work, 'missing.bin');
    await expect(store.download('files/absent.parquet', missing)).rejects.toThrow();
    expect(() => readFileSync(missing)).toThrow();
  });

  it('refuses keys that could escape the layout', async () => {
    for (const bad of ['/abs', 'a/../b', 'a//b'])
      await expect(store.put(bad, 'x')).rejects.toThrow(/invalid object key/);
  });

  it('describe names the object with its key', () => {
    expect(store.describe('features/CURRENT')).toMatch(/features\/CURRENT$/);
  });
}
