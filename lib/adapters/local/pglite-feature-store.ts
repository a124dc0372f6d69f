import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { writeOnlineCsv } from '#lib/features/snapshot-reader.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import {
  COPY_STAGING_CSV,
  COUNT_STAGING,
  CREATE_SCHEMA,
  CUSTOMER_FEATURE_COLUMNS,
  DELETE_CUSTOMER,
  DROP_STAGING,
  FINISH_STAGING,
  PING,
  PREPARE_STAGING,
  PURGE_DELETED_ROWS,
  SELECT_CURRENT_SNAPSHOT,
  SELECT_CUSTOMER,
  SWAP_IN_STAGING,
  positional,
  rowFromColumns,
} from '#lib/features/online-store-sql.ts';
import { FeatureStoreUnavailableError, type FeatureStore } from '#lib/ports/feature-store.ts';
import { crashPoint } from '#lib/crash-point.ts';

/**
 * The online feature store on PGlite (PostgreSQL compiled to WASM, embedded), with the same SQL
 * text as Aurora (lib/features/online-store-sql.ts).
 *
 * - Opened lazily on first use: opening a data directory takes seconds, and most CLI commands
 *   never touch the online store.
 * - One instance per data directory per process (`PgliteFeatureStore.shared`): PGlite is a
 *   single-connection database; two instances on one directory would corrupt it.
 * - A NEW data directory is a copy of a template made once per machine and PGlite version
 *   (pgliteTemplateDir(); ~0.1 s to copy instead of ~4-5 s of initdb in WASM). The template is
 *   exactly what initdb leaves, closed cleanly; any failure with it falls back to initdb.
 * - Loads go through COPY FROM a CSV blob into an index-less staging table, then one primary-key
 *   build, then a rename swap in one transaction (docs/adr/0053-online-snapshot-swap-by-rename.md, 0055).
 *   Staging is filled OUTSIDE the swap transaction: PGlite runs one statement at a time, and a
 *   transaction holds its only connection, so readers keep reading the live table while staging
 *   fills and wait only for the few-millisecond swap.
 */
export class PgliteFeatureStore implements FeatureStore {
  private static readonly open = new Map<string, PgliteFeatureStore>();

  /** The process-wide store for a data directory (created on first call, opened on first use). */
  static shared(dataDir: string): PgliteFeatureStore {
    const key = resolve(dataDir);
    let store = PgliteFeatureStore.open.get(key);
    if (!store) {
      store = new PgliteFeatureStore(key);
      PgliteFeatureStore.open.set(key, store);
    }
    return store;
  }

  private db?: Promise<PGlite>;
  private closed = false;
  /** Loads run one at a time: they share the single staging table. */
  private loading: Promise<unknown> = Promise.resolve();

  /**
   * dataDir undefined = in memory (tests only: ~4 s and ~700 MB to build each time).
   * template: where the initdb template lives (default pgliteTemplateDir()); false = always initdb.
   */
  constructor(
    readonly dataDir?: string,
    private readonly options: { template?: string | false } = {},
  ) {}

  private connection(): Promise<PGlite> {
    if (this.closed)
      return Promise.reject(new FeatureStoreUnavailableError('the PGlite feature store is closed'));
    this.db ??= (async () => {
      try {
        if (this.dataDir !== undefined) {
          await createFromTemplate(this.dataDir, this.options.template ?? pgliteTemplateDir()).catch(
            () => undefined,
          );
        }
        pgliteWasmBaselineOnly();
        const db = await PGlite.create(this.dataDir);
        for (const sql of CREATE_SCHEMA) await db.exec(sql);
        return db;
      } catch (e) {
        this.db = undefined;
        throw new FeatureStoreUnavailableError(
          `cannot open PGlite at ${this.dataDir ?? 'memory'}: ${String(e)}`,
          {
            cause: e,
          },
        );
      }
    })();
    return this.db;
  }

  async init(): Promise<void> {
    await this.connection();
  }

  async get(id: string): Promise<CustomerFeatureRow | undefined> {
    const db = await this.connection();
    const res = await unavailableOnFailure(() =>
      db.query<Record<string, unknown>>(SELECT_CUSTOMER_TEXT, [id]),
    );
    const row = res.rows[0];
    return row === undefined ? undefined : rowFromColumns((c) => row[c]);
  }

  /**
   * Every row of the live table in id order, in pages of `pageRows` (keyset pages, no long
   * transaction: loads and lookups interleave). Rows carry their snapshot id, so a reader sees a
   * swap between two pages (lib/serving/cached-feature-store.ts reads the table this way).
   */
  async *scanRows(pageRows = 20_000): AsyncIterable<CustomerFeatureRow[]> {
    let after = '';
    for (;;) {
      const page = await this.scanPage(after, pageRows);
      if (page.length === 0) return;
      yield page;
      if (page.length < pageRows) return;
      after = page[page.length - 1].id;
    }
  }

  /** One keyset page of the live table: up to `limit` rows with an id after `after`, in id order. */
  async scanPage(after: string, limit: number): Promise<CustomerFeatureRow[]> {
    const db = await this.connection();
    const page = await unavailableOnFailure(() =>
      db.query<Record<string, unknown>>(SCAN_PAGE, [after, limit]),
    );
    return page.rows.map((row) => rowFromColumns((c) => row[c]));
  }

  /**
   * Deletes the row, then purges its bytes from the data directory (PURGE_DELETED_ROWS), in the
   * queue of loads: a load in flight finishes first, and none starts until the purge is done. The
   * purge runs even when no row was deleted: an earlier erase may have been stopped between the
   * two, and the bytes would stay otherwise.
   */
  deleteCustomer(id: string): Promise<{ deleted: number }> {
    return this.serially(async () => {
      const db = await this.connection();
      const res = await unavailableOnFailure(() => db.query(DELETE_CUSTOMER_TEXT, [id]));
      for (const sql of PURGE_DELETED_ROWS) await unavailableOnFailure(() => db.exec(sql));
      return { deleted: res.rows.length };
    });
  }

  async currentSnapshot(): Promise<string | undefined> {
    const db = await this.connection();
    const res = await unavailableOnFailure(() => db.query<{ snapshot_id: string }>(SELECT_CURRENT_SNAPSHOT));
    return res.rows[0]?.snapshot_id;
  }

  async ping(): Promise<void> {
    const db = await this.connection();
    await unavailableOnFailure(() => db.query(PING));
  }

  replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ): Promise<{ rows: number }> {
    return this.serially(() =>
      this.load(snapshotId, async (db) => {
        let pending: string[] = [];
        const flush = async (): Promise<void> => {
          if (pending.length === 0) return;
          const blob = new Blob([pending.join('')]);
          pending = [];
          await db.query(COPY_STAGING_CSV, [], { blob });
        };
        for await (const batch of batches) {
          for (const row of batch) pending.push(csvLine(row, snapshotId));
          // Bounded blobs keep memory flat for big snapshots; larger ones gain nothing measurable.
          if (pending.length >= COPY_ROWS_PER_BLOB) await flush();
        }
        await flush();
      }),
    );
  }

  /**
   * DuckDB turns online.parquet into the CSV that COPY reads: no JS object per customer, which
   * is most of the time of a big load through replaceSnapshot (docs/adr/0055-pglite-bulk-loads-by-copy.md).
   */
  replaceSnapshotFromParquet(snapshotId: string, file: string): Promise<{ rows: number }> {
    return this.serially(() =>
      this.load(snapshotId, async (db) => {
        const work = await mkdtemp(join(tmpdir(), `cr-online-csv-${process.pid}-`));
        try {
          const csv = join(work, 'online.csv');
          await writeOnlineCsv(file, snapshotId, csv);
          await db.query(COPY_STAGING_CSV, [], { blob: new Blob([await readFile(csv)]) });
        } finally {
          await rm(work, { recursive: true, force: true });
        }
      }),
    );
  }

  private serially<T>(run: () => Promise<T>): Promise<T> {
    const next = this.loading.then(run);
    this.loading = next.catch(() => undefined);
    return next;
  }

  /** Staging, filled by `fill`, then the primary key and the one-transaction swap; staging dropped on failure. */
  private async load(snapshotId: string, fill: (db: PGlite) => Promise<void>): Promise<{ rows: number }> {
    const db = await this.connection();
    try {
      for (const sql of PREPARE_STAGING) await db.exec(sql);
      await fill(db);
      await db.exec(FINISH_STAGING);
      const count = (await db.query<{ n: number }>(COUNT_STAGING)).rows[0].n;
      crashPoint('online-store:staging-filled');
      const swap = SWAP_IN_STAGING.map(positional);
      await db.transaction(async (tx) => {
        for (const { text, names } of swap) {
          const params = names.map((n) =>
            n === 'snapshot_id' ? snapshotId : n === 'row_count' ? count : undefined,
          );
          await tx.query(text, params);
          crashPoint('online-store:inside-swap');
        }
      });
      return { rows: count };
    } catch (e) {
      await db.exec(DROP_STAGING).catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.dataDir !== undefined && PgliteFeatureStore.open.get(this.dataDir) === this) {
      PgliteFeatureStore.open.delete(this.dataDir);
    }
    const db = this.db;
    this.db = undefined;
    if (db) await (await db.catch(() => undefined))?.close();
  }
}

/**
 * PGlite's WebAssembly runs on V8's baseline compiler only (Liftoff, no tier-up to TurboFan), in
 * every process that opens a store, unless the user passed a Liftoff or tier-up flag. With V8's
 * default, the functions a load or a poll makes hot are recompiled by TurboFan on a background
 * thread, CPU that a process living seconds (a CLI command, the extract function's publish) never
 * earns back, spent on the same cores as DuckDB; and the serve primary, which lives long, does a
 * few queries a second, where optimised code buys nothing (docs/adr/0086-pglite-on-liftoff-in-every-process.md).
 * Called before PGlite compiles its
 * module (a V8 flag set later does not reach code already compiled).
 */
export function pgliteWasmBaselineOnly(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (!/liftoff|wasm-tier-up|wasm-dynamic-tiering/.test(given)) setFlagsFromString('--liftoff-only');
}

const COPY_ROWS_PER_BLOB = 100_000;

/**
 * The initdb template for this PGlite version: `$CREDIT_RISK_PGLITE_TEMPLATE` (a directory, or
 * `off` for none), else `<XDG cache or ~/.cache>/credit-risk/pglite-<version>-initdb`. It is a
 * cache, not state: the same bytes initdb would write, rebuilt when missing (not under the
 * CREDIT_RISK_HOME, so that every new home, and every test's fresh home, reuses it).
 */
export function pgliteTemplateDir(): string | false {
  const configured = process.env.CREDIT_RISK_PGLITE_TEMPLATE;
  if (configured === 'off') return false;
  if (configured) return resolve(configured);
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'credit-risk', `pglite-${pgliteVersion()}-initdb`);
}

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@electric-sql/pglite');
  const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Builds the initdb template if it is missing (one PGlite initdb, ~4-5 s). Returns whether it
 * had to. Safe to race: the loser of the final rename drops its copy.
 */
export async function ensurePgliteTemplate(template: string): Promise<boolean> {
  if (existsSync(join(template, 'PG_VERSION'))) return false;
  mkdirSync(dirname(template), { recursive: true });
  const building = `${template}.tmp-${process.pid}-${Date.now()}`;
  try {
    const db = await PGlite.create(building);
    await db.close();
    renameSync(building, template);
  } catch (e) {
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(join(template, 'PG_VERSION'))) throw e;
  }
  return true;
}

/** A data directory PGlite would run initdb in: missing or empty. */
function isNewDataDir(dataDir: string): boolean {
  return !existsSync(dataDir) || readdirSync(dataDir).length === 0;
}

/**
 * Makes a new dataDir a copy of the template (building the template first if needed). Both are
 * written under a temporary name and renamed into place, so a crash leaves no half directory
 * behind for PGlite to mistake for a database; two processes building the template at once both
 * succeed (the second rename loses and its copy is dropped).
 */
async function createFromTemplate(dataDir: string, template: string | false): Promise<void> {
  if (template === false || !isNewDataDir(dataDir)) return;
  await ensurePgliteTemplate(template);
  const copying = `${dataDir}.tmp-${process.pid}-${Date.now()}`;
  try {
    mkdirSync(dirname(dataDir), { recursive: true });
    cpSync(template, copying, { recursive: true });
    if (existsSync(dataDir)) rmdirSync(dataDir); // empty (checked above); rmdir refuses otherwise
    renameSync(copying, dataDir);
  } finally {
    rmSync(copying, { recursive: true, force: true });
  }
}
const SELECT_CUSTOMER_TEXT = positional(SELECT_CUSTOMER).text;
const DELETE_CUSTOMER_TEXT = positional(DELETE_CUSTOMER).text;

/** SELECT_CUSTOMER's columns for a page of customers after an id (the primary key orders them). */
const SCAN_PAGE = positional(
  SELECT_CUSTOMER.replace(/ WHERE id = :id$/, ' WHERE id > :after ORDER BY id LIMIT :limit'),
).text;
if (!SCAN_PAGE.includes('ORDER BY id')) throw new Error('SELECT_CUSTOMER no longer ends with WHERE id = :id');

function csvLine(row: CustomerFeatureRow, snapshotId: string): string {
  let line = '';
  for (let i = 0; i < CUSTOMER_FEATURE_COLUMNS.length; i++) {
    const c = CUSTOMER_FEATURE_COLUMNS[i];
    const v = c.field === 'snapshotId' ? snapshotId : row[c.field];
    if (i > 0) line += ',';
    if (v === null || v === undefined) continue; // an unquoted empty cell is NULL in COPY csv
    if (c.kind !== 'string') {
      line += v; // numbers and YYYY-MM-DD dates never need quoting
      continue;
    }
    const s = String(v);
    line += s === '' || /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }
  return line + '\n';
}

async function unavailableOnFailure<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (e) {
    // A closed or crashed PGlite says so in its message; SQL errors are bugs and stay as they are.
    if (/closed|not ready|aborted/i.test(String(e))) {
      throw new FeatureStoreUnavailableError(`PGlite did not answer: ${String(e)}`, { cause: e });
    }
    throw e;
  }
}
