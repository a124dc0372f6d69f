import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  ObjectExistsError,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from '#lib/ports/object-store.ts';

/**
 * ObjectStore on one S3 bucket, optionally under a key prefix (e.g. `dev/`), so the same key
 * layout (`features/snapshot=<id>/...`, `models/...`) works in any bucket. Keys handed back by
 * list() are without the prefix, like the keys callers pass in.
 *
 * A PutObject is atomic in S3 (a reader sees the old object or the new one), which is what the
 * port promises. upload() streams the file in one PutObject: our artifacts are far below the
 * 5 GB single-PUT limit, so multipart (and @aws-sdk/lib-storage) would add nothing.
 */
export class S3ObjectStore implements ObjectStore {
  private readonly prefix: string;

  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    prefix = '',
  ) {
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  private key(key: string): string {
    if (key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '')) {
      throw new Error(`invalid object key: ${JSON.stringify(key)}`);
    }
    return this.prefix + key;
  }

  describe(key: string): string {
    return `s3://${this.bucket}/${this.key(key)}`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      if (!res.Body) return new Uint8Array();
      return await res.Body.transformToByteArray();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    await this.send(key, { Body: body, ...putInput(options) }, options);
  }

  async upload(file: string, key: string, options: PutOptions = {}): Promise<void> {
    // A stream body needs its length up front: S3 does not take chunked uploads without it.
    const { size } = await stat(file);
    await this.send(
      key,
      { Body: createReadStream(file), ContentLength: size, ...putInput(options) },
      options,
    );
  }

  private async send(
    key: string,
    input: Omit<PutObjectCommandInput, 'Bucket' | 'Key'>,
    options: PutOptions,
  ): Promise<void> {
    try {
      await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), ...input }));
    } catch (e) {
      if (options.ifAbsent && isPreconditionFailed(e)) throw new ObjectExistsError(key);
      throw e;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return { key, size: res.ContentLength ?? 0, etag: res.ETag };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const res = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of res.Contents ?? []) {
        if (o.Key === undefined) continue;
        out.push({ key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, etag: o.ETag });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    // S3 lists in UTF-8 binary order already; sorting keeps the port's promise explicit.
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
  }

  async download(key: string, file: string): Promise<void> {
    const target = resolve(file);
    await mkdir(dirname(target), { recursive: true });
    let res;
    try {
      res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
    } catch (e) {
      if (isNotFound(e)) throw new Error(`no such object: ${this.describe(key)}`, { cause: e });
      throw e;
    }
    // Stream to a temp file and rename: a crash never leaves a truncated file under the real name.
    const tmp = `${target}.tmp-${randomUUID()}`;
    try {
      const body = res.Body;
      const source =
        body instanceof Readable
          ? body
          : Readable.from([await (body?.transformToByteArray() ?? new Uint8Array())]);
      await pipeline(source, createWriteStream(tmp));
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

function putInput(options: PutOptions): Omit<PutObjectCommandInput, 'Bucket' | 'Key'> {
  return {
    ...(options.contentType ? { ContentType: options.contentType } : {}),
    // S3 conditional write: the PUT fails with 412 Precondition Failed if the key exists.
    ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
  };
}

function errorName(e: unknown): string | undefined {
  return (e as { name?: string }).name;
}

function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(e: unknown): boolean {
  const name = errorName(e);
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(e) === 404;
}

function isPreconditionFailed(e: unknown): boolean {
  // Not 409 ConditionalRequestConflict: S3 says retry then, and the retry gets the real answer.
  return errorName(e) === 'PreconditionFailed' || httpStatus(e) === 412;
}
