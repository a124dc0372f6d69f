import { describe } from '@jest/globals';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { JsonlNotifier } from '#lib/adapters/local/jsonl-notifier.ts';
import type { Notification } from '#lib/ports/notifier.ts';
import { deployerContract } from '../../../contracts/deployer.contract.ts';
import { notifierContract } from '../../../contracts/notifier.contract.ts';

describe('Deployer contract: AliasTableDeployer (the local alias table)', () => {
  deployerContract(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-deployer-contract-'));
    return {
      deployer: new AliasTableDeployer(join(dir, 'alias-live.json')),
      artifact: (n) => join(dir, `build-${n}`),
    };
  });
});

describe('Notifier contract: JsonlNotifier (notifications.jsonl)', () => {
  notifierContract(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cr-notifier-contract-')), 'notifications.jsonl');
    return {
      notifier: new JsonlNotifier(file),
      async received() {
        return readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Notification & { id: string });
      },
    };
  });
});
