import { describe } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { objectStoreContract } from '../../../contracts/object-store.contract.ts';

describe('ObjectStore contract: FsObjectStore (a directory on disk)', () => {
  objectStoreContract(async () => ({
    store: new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-fs-contract-'))),
  }));
});
