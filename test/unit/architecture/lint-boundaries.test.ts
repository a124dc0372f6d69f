import { describe, expect, it } from '@jest/globals';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';

/**
 * The architecture's import boundaries are lint rules (eslint.config.js): this lints deliberate
 * violations as if they were files at the given paths and checks that `npm run lint` would fail.
 */
const repo = resolve(import.meta.dirname, '../../..');
const eslint = new ESLint({ cwd: repo });

async function restricted(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(repo, path) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', () => {
  it.each([
    ['lib/model/fixture.ts', "import { S3Client } from '@aws-sdk/client-s3';"],
    ['lib/serving/fixture.ts', "import type { APIGatewayProxyEvent } from 'aws-lambda';"],
    ['lib/features/fixture.ts', "import { Logger } from '@aws-lambda-powertools/logger';"],
    ['lib/adapters/local/fixture.ts', "import middy from '@middy/core';"],
  ])('%s may not import the AWS SDK, Lambda types, Powertools or middy', async (path, code) => {
    expect(await restricted(path, `${code}\nexport const x = 1;\n`)).toEqual([
      expect.stringMatching(/imports no AWS SDK/),
    ]);
  });

  it('lib/adapters/aws may use the AWS SDK', async () => {
    expect(
      await restricted(
        'lib/adapters/aws/fixture.ts',
        "import { S3Client } from '@aws-sdk/client-s3';\nexport { S3Client };\n",
      ),
    ).toEqual([]);
  });

  it.each([
    ['lib/model/fixture.ts', "import { main } from '#local/cli.ts';"],
    ['lib/adapters/aws/fixture.ts', "import { handler } from '#functions/predict/handler.ts';"],
    ['lib/registry/fixture.ts', "import { x } from '../../local/root.ts';"],
  ])('%s may not import functions/ or local/', async (path, code) => {
    expect(await restricted(path, `${code}\nexport const y = 1;\n`)).toEqual([
      expect.stringMatching(/may not import functions\/ or local\//),
    ]);
  });

  it('a port may not import an adapter; domain code may use the local adapters it is given', async () => {
    expect(
      await restricted(
        'lib/ports/fixture.ts',
        "import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';\nexport { FsObjectStore };\n",
      ),
    ).toEqual([expect.stringMatching(/a port may not import an adapter/)]);
    expect(
      await restricted(
        'lib/features/fixture.ts',
        "import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';\nexport { FsObjectStore };\n",
      ),
    ).toEqual([]);
  });
});
