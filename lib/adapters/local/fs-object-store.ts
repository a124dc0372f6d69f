import { createHash, randomUUID } from 'node:crypto';
import {
  copyFile,
  link,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import {
  ObjectExistsError,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from '#lib/ports/object-store.ts';
import { crashPoint } from '#lib/crash-point.ts';

/**
 * ObjectStore on a local directory: key `a/b/c` is file `<root>/a/b/c`.
 * Writes go to a temporary file in the same directory and are renamed into place, so a crash
 * never leaves a half-written object. Temporary files start with `.tmp-` and are never listed.
 */
export class FsObjectStore implements ObjectStore {
  readonly root: string;
  /**
   * The MD5 of each object hashed so far, with the file's identity and times then: a head() of
   * the same unchanged file (same inode, size, mtime and ctime) reuses it. Objects are written to
   * a temp file and renamed or linked into place (a new inode), and any write in place moves
   * mtime and ctime. npm start heads the 133 MB raw CSV several times: 0.6 s of hashing before.
   */
  private readonly etags = new Map<string, { stamp: string; etag: string }>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  private path(key: string): string {
    if (key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '')) {
      throw new Error(`invalid object key: ${JSON.stringify(key)}`);
    }
    return join(this.root, ...key.split('/'));
  }

  describe(key: string): string {
    return this.path(key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = join(dirname(target), `.tmp-${process.pid}-${randomUUID()}`);
    await writeFile(tmp, body);
    crashPoint('object-store:temp-written');
    await this.commit(tmp, target, key, options);
  }

  async upload(file: string, key: string, options: PutOptions = {}): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = join(dirname(target), `.tmp-${process.pid}-${randomUUID()}`);
    await copyFile(file, tmp);
    await this.commit(tmp, target, key, options);
  }

  private async commit(tmp: string, target: string, key: string, options: PutOptions): Promise<void> {
    if (!options.ifAbsent) {
      await rename(tmp, target);
      return;
    }
    // link() fails if the target exists: an atomic create-if-absent, like S3's If-None-Match.
    try {
      await link(tmp, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(key);
      throw e;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(key));
      if (!s.isFile()) return undefined;
      return {
        key,
        size: s.size,
        etag: await this.etag(key, `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`),
      };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async etag(key: string, stamp: string): Promise<string> {
    const known = this.etags.get(key);
    if (known?.stamp === stamp) return known.etag;
    const bytes = await readFile(this.path(key));
    const etag = createHash('md5').update(bytes).digest('hex');
    this.etags.set(key, { stamp, etag });
    return etag;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isNotFound(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw e;
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.tmp-')) continue;
        const full = join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(full);
        } else if (entry.isFile()) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) {
            const s = await stat(full);
            out.push({ key, size: s.size });
          }
        }
      }
    };
    // Start from the deepest directory the prefix names, so listing one snapshot is cheap.
    const slash = prefix.lastIndexOf('/');
    await walk(slash >= 0 ? join(this.root, ...prefix.slice(0, slash).split('/')) : this.root);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async download(key: string, file: string): Promise<void> {
    await mkdir(dirname(resolve(file)), { recursive: true });
    try {
      await copyFile(this.path(key), file);
    } catch (e) {
      if (isNotFound(e)) throw new Error(`no such object: ${this.describe(key)}`, { cause: e });
      throw e;
    }
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
