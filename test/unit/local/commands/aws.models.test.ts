import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  UpdateAliasCommand,
  type UpdateAliasCommandInput,
} from '@aws-sdk/client-lambda';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { AuditEntry } from '#lib/registry/audit.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { main } from '#local/cli.ts';
import { cliActor } from '#local/registry-view.ts';

/**
 * `credit-risk aws models status|rollback|promote|clear-canary` against mocked S3 (an in-memory
 * bucket that honours If-None-Match, as S3 does) and Lambda: the exact UpdateAlias and PutObject
 * requests, their order (alias first, then the registry), the audit entry (the one the local
 * `models` commands write), and a crash between the two moves converging on a re-run.
 */
const s3 = mockClient(S3Client);
const lambda = mockClient(LambdaClient);
const BUCKET = 'credit-risk-prod-modelsbucket-1a2b3c';
const FN = 'credit-risk-prod-predict';
const SERVING = ['--models-bucket', BUCKET, '--function-name', FN, '--region', 'eu-west-1'];

let stdout: string[];
let stderr: string[];
/** Every write to either service, in order. */
let writes: string[];

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  stdout = [];
  stderr = [];
  const code = await main(['node', 'credit-risk', ...args]);
  return { code, out: stdout.join(''), err: stderr.join('') };
}

function body(text: string) {
  const bytes = new TextEncoder().encode(text);
  return Object.assign(Readable.from([Buffer.from(bytes)]), { transformToByteArray: async () => bytes });
}

const notFound = () =>
  Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });

/** An in-memory bucket behind the S3 mock, seeded with the files of a local registry. */
function bucket(seed: Map<string, string>, options: { failPut?: (key: string) => boolean } = {}) {
  const objects = new Map(seed);
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const text = objects.get(input.Key);
    if (text === undefined) throw notFound();
    return { Body: body(text) };
  });
  s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
    const text = objects.get(input.Key);
    if (text === undefined) throw notFound();
    return { ContentLength: text.length };
  });
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix: string }) => ({
    Contents: [...objects.keys()]
      .filter((k) => k.startsWith(input.Prefix))
      .sort()
      .map((Key) => ({ Key, Size: objects.get(Key)?.length ?? 0 })),
  }));
  s3.on(PutObjectCommand).callsFake((input: { Key: string; Body: string; IfNoneMatch?: string }) => {
    if (options.failPut?.(input.Key))
      throw Object.assign(new Error('InternalError'), { name: 'InternalError' });
    if (input.IfNoneMatch === '*' && objects.has(input.Key))
      throw Object.assign(new Error('PreconditionFailed'), {
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      });
    objects.set(input.Key, String(input.Body));
    writes.push(`s3 ${input.Key}`);
    return {};
  });
  return objects;
}

/** The predict function: versions 7 (v1) and 8 (v2), one stack-deployed version 1, and `live`. */
function predictFunction(
  v1: string,
  v2: string,
  live: { functionVersion: string; canary?: [string, number] },
) {
  let alias = { ...live };
  const versions = [
    { Version: '$LATEST', Description: '' },
    { Version: '1', Description: 'image 1234.dkr.ecr.eu-west-1.amazonaws.com/p@sha256:00' },
    { Version: '7', Description: `model=${v1} build=p:1` },
    { Version: '8', Description: `model=${v2} build=p:2` },
  ];
  lambda.on(ListVersionsByFunctionCommand).resolves({ Versions: versions });
  lambda.on(GetFunctionConfigurationCommand).callsFake((input: { Qualifier: string }) => ({
    Description: versions.find((v) => v.Version === input.Qualifier)?.Description,
  }));
  lambda.on(GetAliasCommand).callsFake(() => ({
    FunctionVersion: alias.functionVersion,
    RoutingConfig: { AdditionalVersionWeights: alias.canary ? { [alias.canary[0]]: alias.canary[1] } : {} },
  }));
  lambda.on(UpdateAliasCommand).callsFake((input: UpdateAliasCommandInput) => {
    const [canary] = Object.entries(input.RoutingConfig?.AdditionalVersionWeights ?? {});
    alias = { functionVersion: input.FunctionVersion as string, canary };
    writes.push(`lambda UpdateAlias ${input.FunctionVersion}`);
    return {};
  });
}

/** A registry with v1 then v2 promoted (v2 champion, v1 previous), as its files. */
async function registryFiles(withCanary = false) {
  const dir = mkdtempSync(join(tmpdir(), 'cr-aws-models-'));
  const store = new FsObjectStore(dir);
  const registry = new ModelRegistry(store, { clock: fixedClock('2025-03-01'), actor: 'pipeline:canary' });
  const reg = async (tag: string) =>
    (await registry.register({ model: new TextEncoder().encode(tag), card: '{}', report: '' })).version;
  const v1 = await reg('model one');
  const v2 = await reg('model two');
  const v3 = await reg('model three (never deployed)');
  await registry.promote(v1);
  await registry.promote(v2);
  if (withCanary) await registry.setCanary(v1, 0.1, { deadline: new Date('2025-03-01T12:30:00Z') });
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return { files, v1, v2, v3, dir, store };
}

const puts = () => s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
const aliasUpdates = () => lambda.commandCalls(UpdateAliasCommand).map((c) => c.args[0].input);

beforeEach(() => {
  s3.reset();
  lambda.reset();
  writes = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => stdout.push(String(chunk)) > 0);
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => stderr.push(String(chunk)) > 0);
  jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(`${a.join(' ')}\n`));
  delete process.env.CREDIT_RISK_MODELS_BUCKET;
  delete process.env.CREDIT_RISK_PREDICT_FUNCTION;
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('credit-risk aws models rollback', () => {
  it('routes the alias to the previous champion first, then writes the same audit entry as the local rollback', async () => {
    const { files, v1, v2, store } = await registryFiles();
    const objects = bucket(files);
    predictFunction(v1, v2, { functionVersion: '8' });
    const r = await cli('aws', 'models', 'rollback', ...SERVING, '--reason', 'p99 doubled', '--json');
    expect(r.code).toBe(0);

    expect(aliasUpdates()).toEqual([
      {
        FunctionName: FN,
        Name: 'live',
        FunctionVersion: '7',
        RoutingConfig: { AdditionalVersionWeights: {} },
      },
    ]);
    expect(writes).toEqual([
      'lambda UpdateAlias 7',
      's3 models/credit-risk/audit/0000000006.json',
      // The views: audit.jsonl first, aliases.json last (a crash between them leaves views a re-run
      // of the change repairs; docs/adr/0185).
      's3 models/credit-risk/audit.jsonl',
      's3 models/credit-risk/aliases.json',
    ]);
    const [entryPut, , aliasesPut] = puts();
    expect(entryPut).toMatchObject({
      Bucket: BUCKET,
      Key: 'models/credit-risk/audit/0000000006.json',
      IfNoneMatch: '*',
      ContentType: 'application/json',
    });
    const entry = JSON.parse(String(entryPut.Body)) as AuditEntry;
    expect(entry).toMatchObject({
      seq: 6,
      action: 'rollback',
      from: v2,
      to: v1,
      why: 'p99 doubled',
      actor: cliActor(),
      aliases: { champion: v1, canary: null, previousChampions: [], seq: 6 },
    });
    expect(JSON.parse(String(aliasesPut.Body))).toEqual(entry.aliases);
    expect(JSON.parse(objects.get('models/credit-risk/aliases.json') ?? '')).toEqual(entry.aliases);

    // The local command's entry on the same registry: the same record but for the time.
    const local = await new ModelRegistry(store, {
      clock: fixedClock('2025-03-02'),
      actor: cliActor(),
    }).rollback({
      why: 'p99 doubled',
    });
    const timeless = (e: AuditEntry) => ({ ...e, at: null, aliases: { ...e.aliases, updatedAt: null } });
    expect(timeless(local.entry as AuditEntry)).toEqual(timeless(entry));

    expect(JSON.parse(r.out)).toMatchObject({
      functionVersion: '7',
      routed: true,
      before: { functionVersion: '8', canary: null },
      aliases: { champion: v1 },
      entry: { action: 'rollback' },
    });
  });

  it('a crash after the alias moved leaves the registry as it was; the same command again completes it', async () => {
    const { files, v1, v2 } = await registryFiles();
    let failing = true;
    const objects = bucket(files, { failPut: (key) => failing && key.includes('/audit/') });
    predictFunction(v1, v2, { functionVersion: '8' });
    const crashed = await cli('aws', 'models', 'rollback', ...SERVING);
    expect(crashed.code).toBe(1);
    expect(writes).toEqual(['lambda UpdateAlias 7']);
    expect(JSON.parse(objects.get('models/credit-risk/aliases.json') ?? '')).toMatchObject({ champion: v2 });

    failing = false;
    const again = await cli('aws', 'models', 'rollback', ...SERVING);
    expect(again.code).toBe(0);
    // The alias already sends everything to version 7: no second UpdateAlias; the registry moves.
    expect(aliasUpdates()).toHaveLength(1);
    expect(again.err).toContain('live: already all traffic to version 7');
    expect(again.out).toContain(`rollback: ${v2.slice(0, 12)} -> ${v1.slice(0, 12)}`);
    expect(JSON.parse(objects.get('models/credit-risk/aliases.json') ?? '')).toMatchObject({
      champion: v1,
      previousChampions: [],
    });
  });

  it('a previous champion with no published function version: exit 2 NOT_DEPLOYED, nothing moved', async () => {
    const { files, v1, v2 } = await registryFiles();
    bucket(files);
    // Version 7 (v1) is gone: only the stack-deployed version and v2's remain.
    predictFunction('f'.repeat(64), v2, { functionVersion: '8' });
    const r = await cli('aws', 'models', 'rollback', ...SERVING);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      new RegExp(
        `^error \\[NOT_DEPLOYED\\]: no published version of the serving function serves model ${v1}`,
      ),
    );
    expect(writes).toEqual([]);
  });

  it('refuses without the bucket or the function, calling nothing; takes them from the environment', async () => {
    const none = await cli('aws', 'models', 'rollback', '--region', 'eu-west-1');
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/error \[NO_MODELS_BUCKET\]: .*CREDIT_RISK_MODELS_BUCKET/);
    const noFn = await cli('aws', 'models', 'rollback', '--region', 'eu-west-1', '--models-bucket', BUCKET);
    expect(noFn.code).toBe(2);
    expect(noFn.err).toMatch(/error \[NO_PREDICT_FUNCTION\]: .*CREDIT_RISK_PREDICT_FUNCTION/);
    expect(s3.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);

    const { files, v1, v2 } = await registryFiles();
    bucket(files);
    predictFunction(v1, v2, { functionVersion: '8' });
    process.env.CREDIT_RISK_MODELS_BUCKET = BUCKET;
    process.env.CREDIT_RISK_PREDICT_FUNCTION = FN;
    expect((await cli('aws', 'models', 'rollback')).code).toBe(0);
    expect(s3.commandCalls(PutObjectCommand).every((c) => c.args[0].input.Bucket === BUCKET)).toBe(true);
    expect(aliasUpdates()[0]).toMatchObject({ FunctionName: FN, FunctionVersion: '7' });
  });
});

describe('credit-risk aws models promote and clear-canary', () => {
  it('promote: the alias to the version of that model alone (its canary weight gone), then the registry', async () => {
    const { files, v1, v2 } = await registryFiles(true);
    bucket(files);
    predictFunction(v1, v2, { functionVersion: '8', canary: ['7', 0.1] });
    const r = await cli(
      'aws',
      'models',
      'promote',
      v1.slice(0, 8),
      ...SERVING,
      '--reason',
      'canary looked fine',
    );
    expect(r.code).toBe(0);
    expect(aliasUpdates()).toEqual([
      {
        FunctionName: FN,
        Name: 'live',
        FunctionVersion: '7',
        RoutingConfig: { AdditionalVersionWeights: {} },
      },
    ]);
    expect(writes[0]).toBe('lambda UpdateAlias 7');
    const entry = JSON.parse(String(puts()[0].Body)) as AuditEntry;
    expect(entry).toMatchObject({ action: 'promote', from: v2, to: v1, why: 'canary looked fine' });
    expect(entry.aliases).toMatchObject({ champion: v1, canary: null, previousChampions: [v1, v2] });
  });

  it('promote of a registered model that was never deployed: exit 2, nothing moved', async () => {
    const { files, v1, v2, v3 } = await registryFiles();
    bucket(files);
    predictFunction(v1, v2, { functionVersion: '8' });
    const r = await cli('aws', 'models', 'promote', v3, ...SERVING);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/NOT_DEPLOYED/);
    expect(writes).toEqual([]);
  });

  it('clear-canary takes the weight off the alias, keeps its primary, then clears the registry canary', async () => {
    const { files, v1, v2 } = await registryFiles(true);
    bucket(files);
    predictFunction(v1, v2, { functionVersion: '8', canary: ['7', 0.1] });
    const r = await cli('aws', 'models', 'clear-canary', ...SERVING, '--json');
    expect(r.code).toBe(0);
    expect(aliasUpdates()).toEqual([
      {
        FunctionName: FN,
        Name: 'live',
        FunctionVersion: '8',
        RoutingConfig: { AdditionalVersionWeights: {} },
      },
    ]);
    expect(JSON.parse(r.out)).toMatchObject({
      aliases: { champion: v2, canary: null },
      entry: { action: 'clear-canary', from: v1, why: 'canary cleared from the command line' },
    });
  });
});

describe('credit-risk aws models status', () => {
  it('shows the registry and the alias side by side, and says when they disagree', async () => {
    const { files, v1, v2 } = await registryFiles(true);
    bucket(files);
    predictFunction(v1, v2, { functionVersion: '8', canary: ['7', 0.1] });
    const agree = await cli('aws', 'models', 'status', ...SERVING, '--json');
    expect(agree.code).toBe(0);
    const view = JSON.parse(agree.out) as Record<string, unknown>;
    // The canary's deadline (2025-03-01T12:30Z) is long past: the registry's canary is expired.
    expect(view).toMatchObject({
      registry: {
        champion: v2,
        canary: { version: v1, weight: 0.1, deadline: '2025-03-01T12:30:00.000Z', expired: true },
      },
      alias: {
        name: 'live',
        functionVersion: '8',
        model: v2,
        canary: { functionVersion: '7', weight: 0.1, model: v1 },
      },
      inAgreement: false,
    });
    expect(view.problems).toEqual([
      `the alias's canary serves ${v1.slice(0, 12)}, the registry's live canary is - (it expired: the expiry schedule takes its weight off within minutes)`,
    ]);
    expect(writes).toEqual([]);
  });

  it('in agreement: the alias serves the champion alone', async () => {
    const { files, v1, v2 } = await registryFiles();
    bucket(files);
    predictFunction(v1, v2, { functionVersion: '8' });
    const r = await cli('aws', 'models', 'status', ...SERVING);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`alias live: version 8 (model ${v2.slice(0, 12)})`);
    expect(r.out.trim().split('\n').at(-1)).toBe('in agreement');
  });
});
