import type { Server, Socket } from 'node:net';
import { basename, resolve } from 'node:path';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { FeatureStoreUnavailableError, toWire, type FeatureStore } from '#lib/ports/feature-store.ts';
import { PgliteFeatureStore } from './pglite-feature-store.ts';
import {
  OwnerConnection,
  OwnerGoneError,
  ownerAddress,
  readCalls,
  tryListen,
  writeFrame,
  type OwnerCall,
  type OwnerInfo,
} from './store-owner-channel.ts';

export interface OwnedStoreOptions {
  /** The initdb template (PgliteFeatureStore's option). */
  template?: string | false;
  /** How long to keep trying to reach an owner or become one before failing (ms). Default 60 s. */
  waitMs?: number;
  /** What this process is, as other processes are told (default: the command line). */
  command?: string;
  /** Told when this process starts using the store, and whether it owns it. */
  onRole?: (role: { owner: boolean; info: OwnerInfo }) => void;
}

type Role =
  | { kind: 'owner'; inner: PgliteFeatureStore; server: Server; sockets: Set<Socket> }
  | { kind: 'client'; connection: OwnerConnection; owner: OwnerInfo };

const RETRIES_ON_OWNER_CHANGE = 8;

/**
 * The local online store as every process sees it: the PGlite data directory is opened by ONE
 * process, its owner, and every other process goes through that owner
 * (docs/adr/0100-one-owner-per-pglite-directory.md). Two PGlite instances on one directory
 * each keep their own copy of the database and write it back over the other's: a publish from one
 * terminal while `credit-risk serve` ran in another was never seen by serve, and serve's stop then
 * wrote its stale copy back and broke the store.
 *
 * On first use the process either binds the directory's owner address (store-owner-channel.ts)
 * and opens PGlite itself, serving the other processes' calls on that socket, or connects to the
 * owner and sends it every call (lookups, scans, loads by file path). When the owner goes away (it
 * finished, was stopped, crashed), its clients' calls are retried: one of them becomes the new
 * owner. The owner closing the store answers new calls with "closing", finishes the ones in
 * flight, closes PGlite, and only then releases the address, so no two processes ever have the
 * directory open at once.
 */
export class OwnedPgliteFeatureStore implements FeatureStore {
  private static readonly open = new Map<string, OwnedPgliteFeatureStore>();

  /** The process-wide store for a data directory (one per directory per process). */
  static shared(dataDir: string, options: OwnedStoreOptions = {}): OwnedPgliteFeatureStore {
    const key = resolve(dataDir);
    let store = OwnedPgliteFeatureStore.open.get(key);
    if (!store) {
      store = new OwnedPgliteFeatureStore(key, options);
      OwnedPgliteFeatureStore.open.set(key, store);
    }
    return store;
  }

  readonly address: string;
  private role?: Promise<Role>;
  private closed = false;
  private closing = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly since = new Date().toISOString();

  constructor(
    readonly dataDir: string,
    private readonly options: OwnedStoreOptions = {},
  ) {
    this.address = ownerAddress(dataDir);
  }

  /** Who owns the store right now (this process or another), resolving the role if needed. */
  async owner(): Promise<{ self: boolean } & OwnerInfo> {
    const role = await this.resolveRole();
    return role.kind === 'owner' ? { self: true, ...this.info() } : { self: false, ...role.owner };
  }

  private info(): OwnerInfo {
    return {
      pid: process.pid,
      command: this.options.command ?? commandLine(),
      since: this.since,
    };
  }

  private resolveRole(): Promise<Role> {
    if (this.closed)
      return Promise.reject(new FeatureStoreUnavailableError('the online feature store is closed'));
    this.role ??= this.acquire().catch((e: unknown) => {
      this.role = undefined;
      throw e;
    });
    return this.role;
  }

  /** Becomes the owner, or a client of the owner; waits while an owner is closing. */
  private async acquire(): Promise<Role> {
    const waitMs = this.options.waitMs ?? 60_000;
    const deadline = Date.now() + waitMs;
    let delay = 25;
    for (;;) {
      const server = await tryListen(this.address);
      if (server) return this.becomeOwner(server);
      const connection = await OwnerConnection.connect(this.address);
      if (connection) {
        try {
          const owner = (await connection.call({ op: 'hello' })) as OwnerInfo;
          this.options.onRole?.({ owner: false, info: owner });
          return { kind: 'client', connection, owner };
        } catch (e) {
          connection.close();
          if (!(e instanceof OwnerGoneError)) throw e;
        }
      }
      if (this.closed) throw new FeatureStoreUnavailableError('the online feature store is closed');
      if (Date.now() > deadline) {
        throw new FeatureStoreUnavailableError(
          `the online store at ${this.dataDir} could not be reached in ${Math.round(waitMs / 1000)} s: ` +
            'the process that owns it neither answers nor lets go of it',
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }

  private becomeOwner(server: Server): Role {
    const inner = new PgliteFeatureStore(this.dataDir, { template: this.options.template });
    const sockets = new Set<Socket>();
    // The address must not keep this process alive: commands close the store when done, and a
    // process that ends without closing it is, to the other processes, an owner that went away.
    server.unref();
    server.on('connection', (socket: Socket) => {
      socket.unref();
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      readCalls(socket, (call) => void this.answer(socket, inner, call));
    });
    this.options.onRole?.({ owner: true, info: this.info() });
    return { kind: 'owner', inner, server, sockets };
  }

  private async answer(socket: Socket, inner: PgliteFeatureStore, call: OwnerCall): Promise<void> {
    if (this.closing || this.closed) {
      writeFrame(socket, { n: call.n, closing: true });
      return;
    }
    const work = this.perform(inner, call);
    this.inFlight.add(work);
    try {
      writeFrame(socket, { n: call.n, ok: await work });
    } catch (e) {
      writeFrame(socket, { n: call.n, error: toWire(e) });
    } finally {
      this.inFlight.delete(work);
    }
  }

  private perform(inner: PgliteFeatureStore, call: OwnerCall): Promise<unknown> {
    switch (call.op) {
      case 'hello':
        return Promise.resolve(this.info());
      case 'init':
        return inner.init();
      case 'currentSnapshot':
        return inner.currentSnapshot();
      case 'ping':
        return inner.ping();
      case 'get':
        return inner.get(call.id);
      case 'deleteCustomer':
        return inner.deleteCustomer(call.id);
      case 'scanPage':
        return inner.scanPage(call.after, call.limit);
      case 'loadParquet':
        return inner.replaceSnapshotFromParquet(call.snapshotId, call.file);
      case 'loadRows':
        return inner.replaceSnapshot(call.snapshotId, [call.rows]);
    }
  }

  /**
   * Runs an operation on PGlite when this process owns it, or sends it to the owner. When the
   * owner goes away mid-call, the role is resolved again (this process may become the owner) and
   * the call is made again: every call is a read, a whole load (staging then one swap) or a
   * delete of one customer (with its purge), all safe to repeat.
   */
  private async run<T>(
    local: (inner: PgliteFeatureStore) => Promise<T>,
    remote: Parameters<OwnerConnection['call']>[0],
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const role = await this.resolveRole();
      if (role.kind === 'owner') return this.onOwner(role.inner, local);
      try {
        return (await role.connection.call(remote)) as T;
      } catch (e) {
        if (!(e instanceof OwnerGoneError)) throw e;
        if (this.role && (await this.role.catch(() => undefined)) === role) this.role = undefined;
        role.connection.close();
        if (attempt >= RETRIES_ON_OWNER_CHANGE) {
          throw new FeatureStoreUnavailableError(`the online store's owner kept going away: ${e.message}`);
        }
      }
    }
  }

  /** Work on PGlite in this (owning) process, counted so close() waits for it. */
  private async onOwner<T>(
    inner: PgliteFeatureStore,
    work: (inner: PgliteFeatureStore) => Promise<T>,
  ): Promise<T> {
    const running = work(inner);
    this.inFlight.add(running);
    try {
      return await running;
    } finally {
      this.inFlight.delete(running);
    }
  }

  init(): Promise<void> {
    return this.run((s) => s.init(), { op: 'init' });
  }

  get(id: string): Promise<CustomerFeatureRow | undefined> {
    return this.run((s) => s.get(id), { op: 'get', id });
  }

  deleteCustomer(id: string): Promise<{ deleted: number }> {
    return this.run((s) => s.deleteCustomer(id), { op: 'deleteCustomer', id });
  }

  currentSnapshot(): Promise<string | undefined> {
    return this.run((s) => s.currentSnapshot(), { op: 'currentSnapshot' });
  }

  ping(): Promise<void> {
    return this.run((s) => s.ping(), { op: 'ping' });
  }

  /** Every row of the live table in id order, page by page (see PgliteFeatureStore.scanRows). */
  async *scanRows(pageRows = 20_000): AsyncIterable<CustomerFeatureRow[]> {
    let after = '';
    for (;;) {
      const page = await this.run((s) => s.scanPage(after, pageRows), {
        op: 'scanPage',
        after,
        limit: pageRows,
      });
      if (page.length === 0) return;
      yield page;
      if (page.length < pageRows) return;
      after = page[page.length - 1].id;
    }
  }

  async replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ): Promise<{ rows: number }> {
    const role = await this.resolveRole();
    if (role.kind === 'owner') return this.onOwner(role.inner, (s) => s.replaceSnapshot(snapshotId, batches));
    // Through the owner, the rows travel in one message: this path serves small loads and tests;
    // publishes go through replaceSnapshotFromParquet, which sends a file name.
    const rows: CustomerFeatureRow[] = [];
    for await (const batch of batches) rows.push(...batch);
    return this.run((s) => s.replaceSnapshot(snapshotId, [rows]), { op: 'loadRows', snapshotId, rows });
  }

  replaceSnapshotFromParquet(snapshotId: string, file: string): Promise<{ rows: number }> {
    const path = resolve(file);
    return this.run((s) => s.replaceSnapshotFromParquet(snapshotId, path), {
      op: 'loadParquet',
      snapshotId,
      file: path,
    });
  }

  /**
   * Owner: new calls are told "closing", the calls in flight finish, PGlite closes, THEN the
   * address is released (the next owner must not open the directory before it is written and
   * closed). Client: the connection closes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    const role = await this.role?.catch(() => undefined);
    this.closed = true;
    this.role = undefined;
    if (OwnedPgliteFeatureStore.open.get(this.dataDir) === this)
      OwnedPgliteFeatureStore.open.delete(this.dataDir);
    if (!role) return;
    if (role.kind === 'client') {
      role.connection.close();
      return;
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await role.inner.close();
    // close() frees the address at once but calls back only when every connection has ended.
    const released = new Promise<void>((r) => role.server.close(() => r()));
    for (const socket of role.sockets) socket.destroy();
    await released;
  }
}

function commandLine(): string {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  return [basename(process.argv[1] ?? 'node'), ...args.slice(0, 2)].join(' ');
}
