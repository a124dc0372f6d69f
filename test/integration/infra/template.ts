import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

export const root = resolve(import.meta.dirname, '../../..');

export type Json = any;
export interface Template {
  Resources: Record<
    string,
    { Type: string; Properties?: Json; Condition?: string; DependsOn?: string | string[] }
  >;
  Outputs?: Record<string, Json>;
  Conditions?: Record<string, Json>;
  Parameters?: Record<string, Json>;
}

/**
 * An environment in which any AWS call would fail at once: fake credentials, a fixed region, and
 * every SDK endpoint pointed at a closed local port. `osls package` must succeed anyway.
 */
export function offlineEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'fake',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_SESSION_TOKEN: 'fake',
    AWS_REGION: 'eu-west-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: '',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
}

/**
 * `npm run package:aws -- --stage test` (bundles with stubs for missing handlers, then osls
 * package) in a child process, offline, into a temp directory.
 */
export function packageApplication(): {
  dir: string;
  template: Template;
  stubs: string[];
  seconds: number;
  log: string;
} {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'cr-sls-'));
  const r = spawnSync(
    process.execPath,
    [resolve(root, 'bin/run-ts.mjs'), 'infra/package.ts', '--stage', 'test', '--package', dir],
    {
      cwd: root,
      env: offlineEnv(),
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  const log = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`package:aws failed (exit ${r.status}):\n${log}`);
  const file = join(dir, 'cloudformation-template-update-stack.json');
  if (!existsSync(file)) throw new Error(`osls package wrote no template in ${dir}:\n${log}`);
  const stubs = /\[package\] STUBS=(.*)/.exec(log)?.[1].split(',') ?? [];
  return {
    dir,
    template: JSON.parse(readFileSync(file, 'utf8')) as Template,
    stubs,
    seconds: (Date.now() - t0) / 1000,
    log,
  };
}

const CFN_TAGS = [
  'Ref',
  'Sub',
  'GetAtt',
  'If',
  'Not',
  'Equals',
  'Select',
  'GetAZs',
  'Join',
  'Split',
  'And',
  'Or',
  'ImportValue',
  'Base64',
  'FindInMap',
  'Condition',
  'Cidr',
];

/** Parses CloudFormation YAML (short-form intrinsics become their long form). */
export function parseCfnYaml(text: string): Json {
  const customTags = CFN_TAGS.flatMap((name) => {
    const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
    const wrap = (value: unknown) => ({
      [key]: name === 'GetAtt' && typeof value === 'string' ? value.split('.') : value,
    });
    return (['scalar', 'seq', 'map'] as const).map((nodeClass) => ({
      tag: `!${name}`,
      collection: nodeClass === 'scalar' ? undefined : nodeClass,
      resolve: (value: any) => wrap(nodeClass === 'scalar' ? value : value.toJSON()),
    }));
  });
  return parse(text, { customTags: customTags as any, merge: true });
}

// ---- scanners ------------------------------------------------------------------------------

/** .venv-scan/bin (checkov, cfn-lint), from scripts/test.mjs or the checkout. */
export function scanBin(): string | undefined {
  const fromEnv = process.env.CREDIT_RISK_SCAN_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'checkov'))) return fromEnv;
  const local = resolve(root, '.venv-scan/bin');
  return existsSync(join(local, 'checkov')) ? local : undefined;
}

export interface LintFinding {
  rule: string;
  message: string;
  location: string;
}

export function cfnLint(bin: string, file: string): LintFinding[] {
  const r = spawnSync(join(bin, 'cfn-lint'), ['--format', 'parseable', file], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.error) throw r.error;
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      // file:line:col:endline:endcol:RULE:message
      const m = /^(.*?:\d+:\d+:\d+:\d+):([EWI]\d+):(.*)$/.exec(line);
      return m
        ? { location: m[1], rule: m[2], message: m[3] }
        : { location: '', rule: 'PARSE', message: line };
    });
}

export interface CheckovFinding {
  checkId: string;
  resource: string;
  name: string;
}

export function checkov(bin: string, file: string): { failed: CheckovFinding[]; passed: number } {
  const r = spawnSync(
    join(bin, 'checkov'),
    ['-f', file, '--framework', 'cloudformation', '-o', 'json', '--quiet', '--compact', '--skip-download'],
    {
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, BC_SKIP_MAPPING: 'TRUE', CHECKOV_RUN_SCA_PACKAGE_SCAN_V2: 'false' },
    },
  );
  if (r.error) throw r.error;
  let report = JSON.parse(r.stdout);
  if (Array.isArray(report)) report = report[0];
  // checkov prints a bare summary object when every check passed.
  const results = report.results ?? { failed_checks: [], passed_checks: [] };
  return {
    failed: (results.failed_checks as any[]).map((f) => ({
      checkId: f.check_id,
      resource: f.resource,
      name: f.check_name,
    })),
    passed: report.summary?.passed ?? (results.passed_checks as any[]).length,
  };
}

// ---- docs/SECURITY.md ------------------------------------------------------------------------

export interface AcceptedFinding {
  checkId: string;
  /** Glob over checkov's resource name (`AWS::Type.LogicalId`); `*` matches any run of characters. */
  resources: string;
  template: string;
  severity: string;
}

/** The table under "## Accepted findings" in docs/SECURITY.md (the single list of exceptions). */
export function acceptedFindings(): AcceptedFinding[] {
  const md = readFileSync(resolve(root, 'docs/SECURITY.md'), 'utf8');
  const section = md.split(/^## /m).find((s) => s.startsWith('Accepted findings'));
  if (!section) throw new Error('docs/SECURITY.md has no "## Accepted findings" section');
  return section
    .split('\n')
    .filter((l) => /^\|\s*CKV/.test(l))
    .map((l) => {
      const [checkId, template, resources, severity] = l
        .split('|')
        .slice(1)
        .map((c) => c.trim().replace(/`/g, ''));
      return { checkId, template, resources, severity };
    });
}

export function matchesGlob(value: string, glob: string): boolean {
  const re = new RegExp(
    `^${glob
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
}

/**
 * The checks we treat as HIGH severity (checkov's open-source output has no severities): anything
 * that exposes data or the account - public buckets and databases, unauthenticated APIs, missing
 * encryption of data stores, IAM wildcards and privilege escalation, secrets in plain text,
 * unscanned images, open security groups. docs/SECURITY.md repeats this list with the reason.
 */
export const HIGH_SEVERITY_CHECKS = new Set([
  'CKV_AWS_53',
  'CKV_AWS_54',
  'CKV_AWS_55',
  'CKV_AWS_56', // S3 public access block
  'CKV_AWS_20',
  'CKV_AWS_57',
  'CKV_AWS_70', // S3 public ACLs / policies
  'CKV_AWS_19', // S3 encryption at rest
  'CKV_AWS_17',
  'CKV_AWS_16',
  'CKV_AWS_96', // RDS public / unencrypted
  'CKV_AWS_59', // API Gateway method without authentication
  'CKV_AWS_107',
  'CKV_AWS_108',
  'CKV_AWS_109',
  'CKV_AWS_110',
  'CKV_AWS_111', // IAM wildcards
  'CKV_AWS_60',
  'CKV_AWS_61',
  'CKV_AWS_62',
  'CKV_AWS_63', // IAM trust / admin policies
  'CKV_AWS_45',
  'CKV_AWS_41', // secrets in Lambda environment / credentials
  'CKV_AWS_163', // ECR scan on push
  'CKV_AWS_78', // CodeBuild artifacts unencrypted
  'CKV_AWS_24',
  'CKV_AWS_25',
  'CKV_AWS_260',
  'CKV_AWS_277', // security groups open to the world
]);
