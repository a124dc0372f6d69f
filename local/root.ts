import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { ensureHome, localHome, type LocalHome } from './home.ts';

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
   * The online feature store: PGlite on home.pglite, one instance per process, opened on first
   * use (opening takes a second or more; commands that never read features never pay it).
   */
  featureStore: FeatureStore;
  clock: Clock;
}

export function createLocalRoot(home: LocalHome = localHome()): LocalRoot {
  ensureHome(home);
  return {
    home,
    objectStore: new FsObjectStore(home.store),
    featureStore: PgliteFeatureStore.shared(home.pglite),
    clock: systemClock,
  };
}
