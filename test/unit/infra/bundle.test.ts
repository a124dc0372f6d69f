import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ZIP_FUNCTIONS } from '../../../infra/bundle-functions.ts';
import { DEPLOY_HELP, oslsParams, parseDeployArgs, wantsHelp } from '../../../infra/deploy.ts';
import { crc32, zipDirectory } from '../../../infra/zip.ts';
import { parseCfnYaml } from '../../integration/infra/template.ts';

const root = resolve(import.meta.dirname, '../../..');

describe('function zips', () => {
  it('serverless.yml packages exactly the zips infra/bundle-functions.ts builds, with the same architecture', () => {
    const functions = parseCfnYaml(readFileSync(resolve(root, 'serverless.yml'), 'utf8')).functions as Record<
      string,
      any
    >;
    const zipped = Object.entries(functions).filter(([, f]) => f.package?.artifact);
    expect(
      zipped
        .map(([key, f]) => ({ key, artifact: f.package.artifact, arch: f.architecture }))
        .sort((a, b) => a.key.localeCompare(b.key)),
    ).toEqual(
      ZIP_FUNCTIONS.map((f) => ({
        key: f.key,
        artifact: `dist/lambda/${f.dir}.zip`,
        arch: f.architecture,
      })).sort((a, b) => a.key.localeCompare(b.key)),
    );
    for (const [, f] of zipped) expect(f.handler).toBe('index.handler'); // scripts/build.ts writes index.mjs
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('a zip of the same files is byte-identical (osls skips unchanged uploads)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-zip-'));
    writeFileSync(join(dir, 'index.mjs'), 'export const handler = async () => 1;\n'.repeat(50));
    writeFileSync(join(dir, 'a.txt'), 'a');
    const a = zipDirectory(dir, join(tmpdir(), `cr-a-${process.pid}.zip`));
    const b = zipDirectory(dir, join(tmpdir(), `cr-b-${process.pid}.zip`));
    expect(a.files).toBe(2);
    expect(a.sha256).toBe(b.sha256);
    const bytes = readFileSync(join(tmpdir(), `cr-a-${process.pid}.zip`));
    expect(bytes.readUInt32LE(0)).toBe(0x04034b50); // local file header
    expect(bytes.readUInt32LE(bytes.length - 22)).toBe(0x06054b50); // end of central directory
  });
});

describe('npm run deploy arguments', () => {
  it('requires a valid stage and reads the phase', () => {
    expect(() => parseDeployArgs([])).toThrow(/--stage is required/);
    expect(() => parseDeployArgs(['--stage', 'Prod!'])).toThrow(/--stage/);
    expect(parseDeployArgs(['--stage', 'prod', '--phase', 'build', '--region', 'us-east-1'])).toMatchObject({
      stage: 'prod',
      phase: 'build',
      region: 'us-east-1',
    });
    expect(() => parseDeployArgs(['--stage', 'dev', '--phase', 'later'])).toThrow(/--phase/);
  });

  it('passes the delivery outputs and the pushed digest as osls params', () => {
    expect(
      oslsParams({
        artifactsBucket: 'b',
        repositoryName: 'r',
        imageUri: 'u@sha256:1',
        accountId: '1',
        permissionsBoundaryArn: 'arn:aws:iam::1:policy/credit-risk-dev-boundary',
      }),
    ).toEqual([
      '--param',
      'predictImageUri=u@sha256:1',
      '--param',
      'artifactsBucket=b',
      '--param',
      'predictRepositoryName=r',
      '--param',
      'permissionsBoundaryArn=arn:aws:iam::1:policy/credit-risk-dev-boundary',
    ]);
  });

  it('every param serverless.yml leaves without a default for real stages is one deploy passes', () => {
    const params = parseCfnYaml(readFileSync(resolve(root, 'serverless.yml'), 'utf8')).params as Record<
      string,
      Record<string, unknown>
    >;
    const onlyInTest = Object.keys(params.test).filter((k) => !(k in params.default));
    const passed = oslsParams({
      artifactsBucket: 'b',
      repositoryName: 'r',
      imageUri: 'u',
      accountId: '1',
      permissionsBoundaryArn: 'p',
    })
      .filter((a) => a !== '--param')
      .map((kv) => kv.split('=')[0]);
    expect(onlyInTest.sort()).toEqual(passed.sort());
  });

  it('reads the profile and region the AWS CLI reads, flags first', () => {
    const saved = {
      p: process.env.AWS_PROFILE,
      r: process.env.AWS_REGION,
      d: process.env.AWS_DEFAULT_REGION,
    };
    try {
      process.env.AWS_PROFILE = 'ops';
      delete process.env.AWS_REGION;
      process.env.AWS_DEFAULT_REGION = 'us-west-2';
      expect(parseDeployArgs(['--stage', 'dev'])).toMatchObject({ profile: 'ops', region: 'us-west-2' });
      expect(
        parseDeployArgs(['--stage', 'dev', '--profile', 'p2', '--region', 'eu-central-1']),
      ).toMatchObject({
        profile: 'p2',
        region: 'eu-central-1',
      });
      process.env.AWS_PROFILE = '';
      delete process.env.AWS_DEFAULT_REGION;
      expect(parseDeployArgs(['--stage', 'dev'])).toMatchObject({ profile: undefined, region: 'eu-west-1' });
    } finally {
      for (const [k, v] of [
        ['AWS_PROFILE', saved.p],
        ['AWS_REGION', saved.r],
        ['AWS_DEFAULT_REGION', saved.d],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('--help documents every option the parser accepts, and the model path npm start registers', () => {
    expect(wantsHelp(['--stage', 'dev', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--stage', 'dev'])).toBe(false);
    const source = readFileSync(resolve(root, 'infra/deploy.ts'), 'utf8');
    const parsed = [...source.matchAll(/^ {6}'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/gm)].map(
      (m) => m[1],
    );
    expect(parsed.length).toBeGreaterThan(12);
    for (const option of parsed) expect(DEPLOY_HELP).toContain(`--${option}`);
    expect(DEPLOY_HELP).toContain('.credit-risk/store/models/credit-risk/<version>');
    expect(DEPLOY_HELP).not.toContain('.credit-risk/objects');
  });
});
