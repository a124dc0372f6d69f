import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, relative, sep } from 'node:path';
import { isCustomerField, mentionPattern } from './customer-id.ts';
import { filterCsvFile, headerNames } from './csv-records.ts';
import { filterLinesInPlace } from './line-files.ts';
import { countCustomerRows, openParquetDb, parquetMentions, rewriteParquetWithout } from './parquet-rows.ts';

/**
 * The local home's files outside the object store that can hold a customer: generated raw data
 * (data/), JSON logs (logs/), EMF metric lines (metrics/), scratch (tmp/); and the scan that
 * verifies an erasure by reading every file of the home (lib/privacy/erase.ts covers the stores).
 */

export interface LocalFileErasure {
  file: string;
  removed: number;
}

/** Every regular file under dir (recursively), skipping nothing. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

/** Log and metric files (any line file, `.gz` rotations included): the lines that mention the customer go. */
export async function eraseFromLineFiles(dirs: string[], id: string): Promise<LocalFileErasure[]> {
  const out: LocalFileErasure[] = [];
  for (const dir of dirs)
    for (const file of filesUnder(dir)) {
      const r = await filterLinesInPlace(file, id);
      if (r.removed > 0) out.push({ file, removed: r.removed });
    }
  return out;
}

/**
 * Generated raw data (data/loans-<rows>-seed<seed>.csv and its summary `.json`, local/sfn/raw-data.ts):
 * the customer's records go, and the summary's counts follow, so the next `npm start` reuses the
 * erased file instead of generating the customer again.
 */
export async function eraseFromDataFiles(dir: string, id: string): Promise<LocalFileErasure[]> {
  const out: LocalFileErasure[] = [];
  const db = await openParquetDb();
  try {
    for (const file of filesUnder(dir)) {
      if (file.endsWith('.csv')) {
        let column = -1;
        const r = filterCsvFile(file, file, (record) => {
          if (record.index === 0) {
            column = headerNames(record).indexOf('id');
            return false;
          }
          const field = column >= 0 ? record.fields()[column] : undefined;
          return field !== undefined && isCustomerField(field, id);
        });
        if (r.removed === 0) continue;
        out.push({ file, removed: r.removed });
        const summaryFile = `${file}.json`;
        if (existsSync(summaryFile)) {
          const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>;
          if (typeof summary.rows === 'number') summary.rows -= r.removed;
          if (typeof summary.customers === 'number') summary.customers -= 1;
          writeFileSync(summaryFile, JSON.stringify(summary, null, 2));
        }
      } else if (file.endsWith('.parquet') && (await countCustomerRows(db, file, id)) > 0) {
        const tmp = `${file}.tmp-erase-${process.pid}.parquet`;
        const r = await rewriteParquetWithout(db, file, tmp, id);
        renameSync(tmp, file);
        out.push({ file, removed: r.removed });
      }
    }
  } finally {
    db.close();
  }
  return out;
}

/** Scratch files (DuckDB spills, downloads) that mention the customer are deleted. */
export async function eraseFromScratch(dir: string, id: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const hit of await scanForMentions(dir, id)) {
    rmSync(hit.file, { force: true });
    deleted.push(hit.file);
  }
  return deleted;
}

/** Directories left empty under dir (after snapshots were deleted), removed bottom-up. */
export function pruneEmptyDirectories(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) pruneEmptyDirectories(join(dir, entry.name));
  if (readdirSync(dir).length === 0) rmdirSync(dir);
}

export interface Mention {
  file: string;
  /** `bytes`: the id as a token in the file's bytes (gunzipped for .gz); `values`: in a Parquet column. */
  how: 'bytes' | 'values';
}

/**
 * Every file under root whose content mentions the id as a token: its bytes (decompressed for
 * .gz), and for Parquet also every value of every column (pages are compressed: bytes alone do
 * not show them). Reads everything: slow on a big home, which an erasure can afford.
 */
export async function scanForMentions(root: string, id: string): Promise<Mention[]> {
  const pattern = mentionPattern(id);
  const hits: Mention[] = [];
  const db = await openParquetDb();
  try {
    for (const file of filesUnder(root)) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue; // removed while scanning (a temp file of a running process)
      }
      if (file.endsWith('.gz')) {
        try {
          bytes = gunzipSync(bytes);
        } catch {
          // not gzip after all: the bytes as they are
        }
      }
      if (pattern.test(bytes.toString('latin1'))) hits.push({ file, how: 'bytes' });
      else if (file.endsWith('.parquet') && statSync(file).size > 0) {
        try {
          if ((await parquetMentions(db, file, id)) > 0) hits.push({ file, how: 'values' });
        } catch {
          // Not readable as Parquet (a half-written temp file): its bytes were scanned.
        }
      }
    }
  } finally {
    db.close();
  }
  return hits;
}

/** A path relative to the home, '/'-separated, for messages and JSON. */
export function homePath(root: string, file: string): string {
  return relative(root, file).split(sep).join('/');
}
