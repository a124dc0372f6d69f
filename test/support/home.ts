import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureHome, localHome, type LocalHome } from '#local/home.ts';

/** A fresh, empty local home (what CREDIT_RISK_HOME points at) in a temp directory. */
export function freshHome(prefix = 'cr-home-'): LocalHome {
  return ensureHome(localHome(mkdtempSync(join(tmpdir(), prefix))));
}
