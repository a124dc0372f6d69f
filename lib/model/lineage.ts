import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where a model came from, for its card (docs/adr/0143-lineage-code-version-baked-at-build.md):
 * the code version, the libraries whose behaviour the model's numbers depend on, and how each was
 * found. Bundles and images get both baked in at build time (scripts/build.ts defines the two
 * constants below); a run from a git checkout asks git; CODE_VERSION in the environment (the
 * buildspec sets it in AWS) wins over both.
 */

// Replaced by esbuild's `define` in bundles; undeclared (typeof "undefined") when run from source.
declare const __CREDIT_RISK_CODE_VERSION__: string | undefined;
declare const __CREDIT_RISK_LIBRARY_VERSIONS__: Record<string, string> | undefined;

/** The packages whose versions a card records (native engines that compute or check numbers). */
export const LINEAGE_LIBRARIES = ['onnxruntime-node', '@duckdb/node-api'] as const;

let gitCache: string | null | undefined;

/** The git commit of the checkout this module runs from, or null outside one. */
export function gitHead(): string | null {
  if (gitCache !== undefined) return gitCache;
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    gitCache =
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || null;
  } catch {
    gitCache = null;
  }
  return gitCache;
}

/** The code version and where it came from: env CODE_VERSION, the build's baked value, or git. */
export function resolveCodeVersion(env: Record<string, string | undefined> = process.env): {
  value: string | null;
  source: 'env' | 'baked' | 'git' | 'unknown';
} {
  if (env.CODE_VERSION) return { value: env.CODE_VERSION, source: 'env' };
  if (typeof __CREDIT_RISK_CODE_VERSION__ === 'string' && __CREDIT_RISK_CODE_VERSION__)
    return { value: __CREDIT_RISK_CODE_VERSION__, source: 'baked' };
  const head = gitHead();
  return head ? { value: head, source: 'git' } : { value: null, source: 'unknown' };
}

/** Version of an installed package from its package.json, or null when it cannot be found. */
export function installedVersion(pkg: string): string | null {
  const require = createRequire(import.meta.url);
  try {
    return (require(`${pkg}/package.json`) as { version?: string }).version ?? null;
  } catch {
    // Packages whose `exports` hide package.json: walk up from the entry point.
    try {
      let dir = dirname(require.resolve(pkg));
      for (let i = 0; i < 6; i++, dir = dirname(dir)) {
        try {
          const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
            name?: string;
            version?: string;
          };
          if (meta.name === pkg) return meta.version ?? null;
        } catch {
          // no package.json at this level
        }
      }
    } catch {
      // not installed
    }
    return null;
  }
}

/** The recorded libraries' versions: baked at build time, else read from node_modules; plus Node's. */
export function libraryVersions(): Record<string, string | null> {
  const baked = typeof __CREDIT_RISK_LIBRARY_VERSIONS__ === 'object' ? __CREDIT_RISK_LIBRARY_VERSIONS__ : {};
  const out: Record<string, string | null> = { node: process.versions.node };
  for (const pkg of LINEAGE_LIBRARIES) out[pkg] = baked[pkg] ?? installedVersion(pkg);
  return out;
}
