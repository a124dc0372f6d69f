import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_RETENTION, RETENTION_PARAMETERS } from '#lib/privacy/personal-data.ts';
import { parseCfnYaml } from '../../integration/infra/template.ts';

const root = resolve(import.meta.dirname, '../../..');
const serverless = parseCfnYaml(readFileSync(resolve(root, 'serverless.yml'), 'utf8')) as {
  params: Record<string, Record<string, unknown>>;
};
const storage = readFileSync(resolve(root, 'infra/resources/storage.yml'), 'utf8');

describe('one retention policy for the stack and the local home', () => {
  it("serverless.yml's default periods are lib/privacy/personal-data.ts's", () => {
    const defaults = Object.fromEntries(
      Object.entries(RETENTION_PARAMETERS).map(([field, param]) => [field, serverless.params.default[param]]),
    );
    expect(defaults).toEqual(DEFAULT_RETENTION);
  });

  it('every period is used: S3 lifecycle rules in storage.yml, the log groups through the provider', () => {
    for (const [field, param] of Object.entries(RETENTION_PARAMETERS)) {
      const where = field === 'logDays' ? readFileSync(resolve(root, 'serverless.yml'), 'utf8') : storage;
      expect({ param, used: where.includes(`\${param:${param}}`) }).toEqual({ param, used: true });
    }
  });

  it('in every stage, raw files outlive their last storage-class transition and snapshots theirs', () => {
    for (const [stage, own] of Object.entries(serverless.params)) {
      const p = { ...serverless.params.default, ...own } as Record<string, number>;
      expect({ stage, raw: p.rawRetentionDays > 180 }).toEqual({ stage, raw: true }); // GLACIER_IR at 180
      expect({ stage, snapshots: p.snapshotRetentionDays > 60 }).toEqual({ stage, snapshots: true }); // IA at 60
      for (const param of Object.values(RETENTION_PARAMETERS))
        expect({ stage, param, days: Number.isInteger(p[param]) && p[param] >= 1 }).toEqual({
          stage,
          param,
          days: true,
        });
    }
  });
});
