import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Every piece of local state lives under one directory: `.credit-risk/` in the working directory,
 * or `$CREDIT_RISK_HOME`. Deleting it resets the local system; tests use a fresh one each.
 */
export interface LocalHome {
  root: string;
  /** The object store (the local stand-in for S3 buckets), same key layout as S3. */
  store: string;
  /** PGlite's data directory (the local stand-in for Aurora PostgreSQL). */
  pglite: string;
  /** State-machine executions: states, inputs, outputs, durations, errors. */
  runs: string;
  /** Local "container images": versioned bundle + model directories. */
  builds: string;
  /** Generated raw data and other inputs. */
  data: string;
  /** EMF metric lines collected from handlers. */
  metrics: string;
  /** Local SNS stand-in: notifications.jsonl. */
  notifications: string;
  /** Scratch space for temp files (DuckDB spill, downloads). */
  tmp: string;
}

export function localHome(root = process.env.CREDIT_RISK_HOME ?? '.credit-risk'): LocalHome {
  const abs = resolve(root);
  return {
    root: abs,
    store: join(abs, 'store'),
    pglite: join(abs, 'pglite'),
    runs: join(abs, 'runs'),
    builds: join(abs, 'builds'),
    data: join(abs, 'data'),
    metrics: join(abs, 'metrics'),
    notifications: join(abs, 'notifications'),
    tmp: join(abs, 'tmp'),
  };
}

export function ensureHome(home: LocalHome): LocalHome {
  for (const dir of Object.values(home)) mkdirSync(dir, { recursive: true });
  return home;
}
