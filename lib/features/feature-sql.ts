import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The feature SQL: one text file (lib/features/sql/features.sql), the single definition of every
 * feature, run as is by DuckDB here and by Spark SQL in jobs/glue/extract_features.py (which splits
 * it the same way). A Lambda bundle must ship that file next to this module's `sql/` path
 * (FEATURE_SQL_PATH says which file).
 */
export const FEATURE_SQL_PATH = fileURLToPath(new URL('./sql/features.sql', import.meta.url));

export interface FeatureSqlStatement {
  name: string;
  sql: string;
}

export interface FeatureSql {
  /** The whole file, byte for byte (what sqlSha256 hashes and what the Glue job receives). */
  text: string;
  sqlSha256: string;
  /** CREATE OR REPLACE TEMPORARY VIEW statements, in file order; run them first. */
  views: FeatureSqlStatement[];
  /** The per-loan query (offline store). */
  features: string;
  /** The per-customer query (online store). */
  online: string;
}

const STATEMENT_MARKER = /^-- name: ([a-z_][a-z0-9_]*)\s*$/;

/**
 * Splits the text at `-- name: <name>` lines. Each block is one statement (comments kept; a trailing
 * `;` dropped). Blocks other than `features` and `online` must be views.
 */
export function parseFeatureSql(text: string): FeatureSql {
  const blocks: FeatureSqlStatement[] = [];
  let current: { name: string; lines: string[] } | undefined;
  for (const line of text.split(/\r?\n/)) {
    const m = STATEMENT_MARKER.exec(line);
    if (m) {
      if (current) blocks.push(finish(current));
      current = { name: m[1], lines: [] };
    } else if (current) {
      current.lines.push(line);
    }
  }
  if (current) blocks.push(finish(current));

  const byName = new Map<string, string>();
  for (const b of blocks) {
    if (byName.has(b.name)) throw new Error(`feature SQL: statement "${b.name}" is defined twice`);
    byName.set(b.name, b.sql);
  }
  const features = byName.get('features');
  const online = byName.get('online');
  if (!features || !online) throw new Error('feature SQL: needs a "features" and an "online" statement');
  const views = blocks.filter((b) => b.name !== 'features' && b.name !== 'online');
  for (const v of views) {
    if (!/^\s*(--[^\n]*\n\s*)*CREATE OR REPLACE TEMPORARY VIEW /i.test(v.sql)) {
      throw new Error(`feature SQL: statement "${v.name}" must be a CREATE OR REPLACE TEMPORARY VIEW`);
    }
  }
  return { text, sqlSha256: sha256Hex(text), views, features, online };
}

function finish(block: { name: string; lines: string[] }): FeatureSqlStatement {
  const sql = block.lines.join('\n').trim().replace(/;\s*$/, '');
  return { name: block.name, sql };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

let cached: FeatureSql | undefined;

/** The project's feature SQL, read once. */
export function loadFeatureSql(): FeatureSql {
  cached ??= parseFeatureSql(readFileSync(FEATURE_SQL_PATH, 'utf8'));
  return cached;
}
