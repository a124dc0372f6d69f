import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  classifyCsvRecords,
  ID_CHECKSUM_MODULUS,
  scanCsv,
  type RecordSink,
  type StructuralReason,
} from '#lib/features/validate-scan.ts';

/**
 * The byte scans must read records exactly as DuckDB's strict CSV reader does: the same record
 * boundaries (quotes), the same blank lines, and the same records rejected (field counts, quote
 * errors, invalid UTF-8 in the fields it reads), or the line numbers and the copy DuckDB reads
 * after the classification would be wrong. Random small files over an alphabet of the characters
 * that matter, each read by DuckDB (store_rejects is safe at this size) and by both scans.
 */
let dir: string;
let instance: DuckDBInstance;
let conn: DuckDBConnection;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cr-scan-duckdb-'));
  instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  conn = await instance.connect();
});
afterAll(() => {
  conn.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  blank: number[];
  multi: Array<[number, number]>;
  broken: Map<number, StructuralReason>;
}

function recording(): { sink: RecordSink; seen: Seen } {
  const seen: Seen = { blank: [], multi: [], broken: new Map() };
  return {
    seen,
    sink: {
      blank: (r) => seen.blank.push(r),
      multiLine: (r, k) => seen.multi.push([r, k]),
      broken: (r, reason) => seen.broken.set(r, reason),
    },
  };
}

/** What DuckDB makes of `body` under the header a,b,c: rows emitted, and the rejected record numbers. */
async function duckdb(
  path: string,
): Promise<{ emitted: number; rejected: Map<number, boolean>; idChecksum: number }> {
  await conn.run('DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans');
  const rows = await conn.runAndReadAll(
    `SELECT count(*), max(length(concat(a, b, c))) FROM read_csv('${path}', columns = {'a': 'VARCHAR', 'b': 'VARCHAR', 'c': 'VARCHAR'},
       header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', strict_mode = true, store_rejects = true)`,
  );
  const errors = await conn.runAndReadAll(
    `SELECT CAST(line AS BIGINT), bool_or(error_type = 'INVALID ENCODING') FROM reject_errors GROUP BY line`,
  );
  // The validator's check of DuckDB's rows against the classifier: the sum of the canonical ids
  // (every column read, as the validator's rules read them: DuckDB checks UTF-8 only in those).
  const ids = await conn.runAndReadAll(
    `SELECT coalesce(sum(TRY_CAST(a AS BIGINT) % ${ID_CHECKSUM_MODULUS}) FILTER (
       WHERE CAST(TRY_CAST(a AS BIGINT) AS VARCHAR) = a AND TRY_CAST(a AS BIGINT) >= 0) % ${ID_CHECKSUM_MODULUS}, 0)
     FROM read_csv('${path}', columns = {'a': 'VARCHAR', 'b': 'VARCHAR', 'c': 'VARCHAR'},
       header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', strict_mode = true, ignore_errors = true)
     WHERE length(concat(a, b, c)) >= 0`,
  );
  return {
    emitted: Number(rows.getRows()[0][0]),
    rejected: new Map(errors.getRows().map(([line, encoding]) => [Number(line), Boolean(encoding)])),
    idChecksum: Number(ids.getRows()[0][0]),
  };
}

function scans(path: string) {
  const first = recording();
  const scan = scanCsv(path, { sink: first.sink });
  const second = recording();
  const classified = classifyCsvRecords(path, {
    headerFields: 3,
    checkedFields: [0, 1, 2],
    maxRecordLines: 1000,
    maxRecordBytes: 1 << 20,
    copyPath: `${path}.copy`,
    sink: second.sink,
  });
  // Without a copy, as the validator first asks: the rows DuckDB reads from the file itself.
  const verdicts = classifyCsvRecords(path, {
    headerFields: 3,
    checkedFields: [0, 1, 2],
    maxRecordLines: 2,
    maxRecordBytes: 1 << 20,
    idField: 0,
    sink: recording().sink,
  });
  return { scan, first: first.seen, classified, second: second.seen, verdicts };
}

const TOKENS = ['x', '1', '0', ',', ',', '"', '"', '""', '\n', '\n', ' ', 'é'];

describe('the byte scans read a CSV as DuckDB does', () => {
  it('agree with DuckDB on records, blank lines, line breaks in quotes and rejected records', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }),
        fc.boolean(),
        fc.boolean(),
        async (tokens, latin1, crlf) => {
          const path = join(dir, `r${++n}.csv`);
          // 'é' in Latin-1 is one byte that is not UTF-8; in UTF-8 it is two valid ones.
          let text = `a,b,c\n${tokens.join('')}`;
          if (crlf) text = text.replace(/\n/g, '\r\n');
          const bytes = Buffer.from(text, latin1 ? 'latin1' : 'utf8');
          writeFileSync(path, bytes);
          const theirs = await duckdb(path);
          const ours = scans(path);
          const dataRecords = ours.scan.records - 1 - ours.scan.blankRecords;
          expect(ours.classified.records).toBe(ours.scan.records);
          expect(ours.second.blank).toEqual(ours.first.blank);
          expect(ours.second.multi).toEqual(ours.first.multi);
          expect([...ours.second.broken.keys()].sort((x, y) => x - y)).toEqual(
            [...theirs.rejected.keys()].sort((x, y) => x - y),
          );
          expect(theirs.emitted).toBe(dataRecords - theirs.rejected.size);
          // Records over the line bound that DuckDB reads all the same still count as its rows.
          expect(ours.verdicts.rowsRead).toBe(theirs.emitted);
          // A space before a quote changes what DuckDB reads as the id; the checksum then differs
          // and the validator falls back to the copy, which is safe, so only compare without one.
          if (!text.includes(' ')) expect(ours.verdicts.idChecksum).toBe(theirs.idChecksum);
          // The copy holds the same records, the broken ones as blank lines: DuckDB rejects nothing there.
          const copy = await duckdb(`${path}.copy`);
          expect(copy.rejected.size).toBe(0);
          expect(copy.emitted).toBe(theirs.emitted);
          expect(readFileSync(`${path}.copy`).length).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: 400, seed: 20261206 },
    );
  });
});
