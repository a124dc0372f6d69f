import { createHash } from 'node:crypto';
import { existsSync, realpathSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { fromWire, type WireError } from '#lib/ports/feature-store.ts';

/**
 * The channel between the one process that owns a local PGlite data directory and every other
 * process that uses it (docs/adr/0100-one-owner-per-pglite-directory.md).
 *
 * The lock IS the owner's listening socket: binding the directory's address succeeds for exactly
 * one process, and the kernel frees it when that process ends, however it ends (kill -9
 * included), so there is no lock file to go stale. On Linux the address is in the abstract
 * namespace (no file at all), on Windows a named pipe; elsewhere (macOS) a socket file in the temp
 * directory, which a crash leaves behind: a bind that finds it and a connect that is refused
 * means nobody owns it, and it is removed.
 *
 * Frames: a 4-byte big-endian length, then a V8-serialized message (rows keep their types as
 * they are: numbers, nulls, date texts).
 */

/** A request from a client to the owner. `n` numbers the calls of one connection. */
export type OwnerCall =
  | { n: number; op: 'hello' | 'init' | 'currentSnapshot' | 'ping' }
  | { n: number; op: 'get'; id: string }
  | { n: number; op: 'deleteCustomer'; id: string }
  | { n: number; op: 'scanPage'; after: string; limit: number }
  | { n: number; op: 'loadParquet'; snapshotId: string; file: string }
  | { n: number; op: 'loadRows'; snapshotId: string; rows: CustomerFeatureRow[] };

export type OwnerReply =
  | { n: number; ok: unknown }
  | { n: number; error: WireError }
  /** The owner is closing the store: ask again once it is gone (a new owner takes over). */
  | { n: number; closing: true };

/** Who owns the store, as the owner answers `hello`. */
export interface OwnerInfo {
  pid: number;
  command: string;
  since: string;
}

/** The owner went away (exit, crash, closing the store) before answering: retry with the next owner. */
export class OwnerGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OwnerGoneError';
  }
}

/** The address whose binding is the lock of a data directory (the same from every process). */
export function ownerAddress(dataDir: string): string {
  const hash = createHash('sha256').update(canonicalPath(dataDir)).digest('hex').slice(0, 32);
  if (process.platform === 'linux') return `\0credit-risk-pglite-${hash}`;
  if (process.platform === 'win32') return `\\\\?\\pipe\\credit-risk-pglite-${hash}`;
  return join(tmpdir(), `credit-risk-pglite-${hash}.sock`);
}

/** The directory's real path when its parent exists (two spellings of one directory, one lock). */
function canonicalPath(dataDir: string): string {
  const abs = resolve(dataDir);
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

function isFileSocket(address: string): boolean {
  return !address.startsWith('\0') && !address.startsWith('\\\\');
}

/** Binds the address: the server when this process now owns it, undefined when another does. */
export function tryListen(address: string): Promise<Server | undefined> {
  return new Promise((resolveListen, reject) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') resolveListen(undefined);
      else reject(e);
    });
    server.listen(address, () => {
      server.removeAllListeners('error');
      resolveListen(server);
    });
  });
}

/**
 * A file socket left by an owner that crashed (macOS): nobody answers on it. Removes it and says
 * so; always false for the abstract and named-pipe addresses, which the kernel frees itself.
 */
export function removeIfStale(address: string, connectError: NodeJS.ErrnoException): boolean {
  if (!isFileSocket(address) || connectError.code !== 'ECONNREFUSED' || !existsSync(address)) return false;
  try {
    unlinkSync(address);
    return true;
  } catch {
    return false;
  }
}

/** Splits a byte stream into frames. */
class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer, onMessage: (message: unknown) => void): void {
    this.buffered.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.size < 4) return;
      let all = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered, this.size);
      const length = all.readUInt32BE(0);
      if (this.size < 4 + length) {
        this.buffered = [all];
        return;
      }
      const message = deserialize(all.subarray(4, 4 + length)) as unknown;
      all = all.subarray(4 + length);
      this.buffered = all.length > 0 ? [all] : [];
      this.size = all.length;
      onMessage(message);
    }
  }
}

export function writeFrame(socket: Socket, message: OwnerCall | OwnerReply): boolean {
  const body = serialize(message);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  if (socket.destroyed || !socket.writable) return false;
  socket.write(head);
  socket.write(body);
  return true;
}

/** Calls `onCall` for every request arriving on an accepted connection. */
export function readCalls(socket: Socket, onCall: (call: OwnerCall) => void): void {
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => reader.push(chunk, (m) => onCall(m as OwnerCall)));
}

type Pending = { resolve(value: unknown): void; reject(e: Error): void };

/** A connection to the owner. Calls fail with OwnerGoneError when it goes away. */
export class OwnerConnection {
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private gone?: OwnerGoneError;

  private constructor(private readonly socket: Socket) {
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => reader.push(chunk, (m) => this.settle(m as OwnerReply)));
    socket.on('error', () => undefined); // 'close' follows and fails what is pending
    socket.on('close', () =>
      this.fail(new OwnerGoneError('the process that owns the online store went away')),
    );
    // Idle, the connection does not keep this process alive; a call in flight does.
    socket.unref();
  }

  /** Connects; undefined when nobody listens at the address (a stale file socket is removed). */
  static connect(address: string): Promise<OwnerConnection | undefined> {
    return new Promise((resolveConnect, reject) => {
      const socket = createConnection(address);
      socket.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'ECONNRESET') {
          removeIfStale(address, e);
          resolveConnect(undefined);
        } else reject(e);
      });
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolveConnect(new OwnerConnection(socket));
      });
    });
  }

  get closed(): boolean {
    return this.gone !== undefined;
  }

  call(request: DistributiveOmit<OwnerCall, 'n'>): Promise<unknown> {
    if (this.gone) return Promise.reject(this.gone);
    const n = ++this.next;
    return new Promise<unknown>((resolveCall, reject) => {
      this.pending.set(n, { resolve: resolveCall, reject });
      if (this.pending.size === 1) this.socket.ref();
      if (!writeFrame(this.socket, { ...request, n } as OwnerCall)) {
        this.pending.delete(n);
        reject(new OwnerGoneError('the connection to the online store owner is closed'));
      }
    });
  }

  private settle(reply: OwnerReply): void {
    const p = this.pending.get(reply.n);
    if (!p) return;
    this.pending.delete(reply.n);
    if (this.pending.size === 0) this.socket.unref();
    if ('closing' in reply) p.reject(new OwnerGoneError('the owner of the online store is closing it'));
    else if ('error' in reply) p.reject(fromWire(reply.error));
    else p.resolve(reply.ok);
  }

  private fail(e: OwnerGoneError): void {
    this.gone ??= e;
    for (const [n, p] of this.pending) {
      this.pending.delete(n);
      p.reject(e);
    }
  }

  close(): void {
    this.fail(new OwnerGoneError('closed by this process'));
    this.socket.destroy();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
