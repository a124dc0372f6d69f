import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { OwnedPgliteFeatureStore } from '#lib/adapters/local/owned-pglite-feature-store.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { LOG_ID_KEY_ENV } from '#lib/privacy/log-pseudonym.ts';
import { loadSubjectKey } from '#lib/privacy/subject-key.ts';
import { ensureHome, localHome, type LocalHome } from './home.ts';
import { sweepOrphanTemps } from './orphan-temps.ts';

/**
 * The local composition root: the one place that picks the embedded adapters (a directory for
 * S3, PGlite for RDS, ...). functions/commons/aws-root.ts is its AWS twin. Handlers and domain
 * code receive ports and never know which runtime they are in.
 *
 * Shared file: add a port with a small, additive edit.
 */
export interface LocalRoot {
  home: LocalHome;
  objectStore: ObjectStore;
  /**
   * The online feature store: PGlite on home.pglite, opened on first use (opening takes a second
   * or more; commands that never read features never pay it) by exactly one process on the
   * machine, its owner; any other process that uses it goes through the owner
   * (lib/adapters/local/owned-pglite-feature-store.ts).
   */
  featureStore: FeatureStore;
  clock: Clock;
}

export function createLocalRoot(home: LocalHome = localHome()): LocalRoot {
  ensureHome(home);
  // The local stand-in for the stack's log key secret: request logs name customers by a keyed
  // pseudonym (lib/privacy/log-pseudonym.ts); the key is made once per home, readable by its owner.
  process.env[LOG_ID_KEY_ENV] ??= Buffer.from(loadSubjectKey(logIdKeyFile(home.root))).toString('hex');
  // Temps of a process killed mid-write (local/orphan-temps.ts): the next command removes them.
  const swept = sweepOrphanTemps(home.root, { skip: [home.pglite] });
  if (swept.length > 0)
    console.error(
      `removed ${swept.length} temporary file(s) left by a killed process (${swept[0]}${swept.length > 1 ? ', ...' : ''})`,
    );
  return {
    home,
    objectStore: new FsObjectStore(home.store),
    featureStore: OwnedPgliteFeatureStore.shared(home.pglite, {
      // On stderr: a command that goes through another process says which, so a user knows why
      // stopping that process pauses this one for a moment (a new owner takes over).
      onRole: ({ owner, info }) => {
        if (!owner)
          console.error(`online store: owned by ${info.command} (pid ${info.pid}); going through it`);
      },
    }),
    clock: systemClock,
  };
}

/** The key of the customer pseudonyms in local logs (0600, created on first use). */
export function logIdKeyFile(homeRoot: string): string {
  return join(homeRoot, 'keys', 'log-id.key');
}
