import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  acceptedFindings,
  cfnLint,
  checkov,
  HIGH_SEVERITY_CHECKS,
  matchesGlob,
  parseCfnYaml,
  root,
  scanBin,
} from './template.ts';

// infra/delivery.yml: the stack that exists before the application (ECR, artifacts, CodePipeline).
const file = resolve(root, 'infra/delivery.yml');
const template = parseCfnYaml(readFileSync(file, 'utf8'));
const R = template.Resources as Record<string, { Type: string; Properties: any }>;

describe('delivery stack', () => {
  it('the predict repository scans on push, keeps tags immutable and expires old images', () => {
    const repo = R.PredictRepository.Properties;
    expect(repo.ImageScanningConfiguration.ScanOnPush).toBe(true);
    expect(repo.ImageTagMutability).toBe('IMMUTABLE');
    const rules = JSON.parse(repo.LifecyclePolicy.LifecyclePolicyText).rules;
    expect(rules.map((r: any) => r.action.type)).toEqual(['expire', 'expire']);
  });

  it('the repository name is the one serverless.yml gives the image build and the canary', () => {
    expect(R.PredictRepository.Properties.RepositoryName).toEqual({
      'Fn::Sub': 'credit-risk-${Stage}-predict',
    });
    expect(R.ArtifactsBucket.Properties.BucketName).toEqual({
      'Fn::Sub': 'credit-risk-${Stage}-artifacts-${AWS::AccountId}',
    });
  });

  it('the artifacts bucket is private, encrypted and TLS-only', () => {
    const b = R.ArtifactsBucket.Properties;
    expect(Object.values(b.PublicAccessBlockConfiguration)).toEqual([true, true, true, true]);
    expect(
      b.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
    ).toBe('AES256');
    const deny = R.ArtifactsBucketPolicy.Properties.PolicyDocument.Statement.find(
      (s: any) => s.Effect === 'Deny',
    );
    expect(deny.Condition.Bool['aws:SecureTransport']).toBe('false');
  });

  it('the pipeline goes source on commit -> build, test and deploy with buildspec.yml, artifacts in the bucket', () => {
    const p = R.Pipeline.Properties;
    expect(p.Stages.map((s: any) => s.Name)).toEqual(['Source', 'BuildTestDeploy']);
    const source = p.Stages[0].Actions[0];
    expect(source.ActionTypeId.Provider).toBe('CodeStarSourceConnection');
    expect(source.Configuration.DetectChanges).toBe(true);
    expect(p.Stages[1].Actions[0].Configuration.ProjectName).toEqual({ Ref: 'CiProject' });
    expect(R.CiProject.Properties.Source.BuildSpec).toBe('buildspec.yml');
    expect(p.ArtifactStore.Location).toEqual({ Ref: 'ArtifactsBucket' });
  });

  it("the deploy role manages IAM only for this stage's roles", () => {
    const iam = R.CiRole.Properties.Policies[0].PolicyDocument.Statement[0];
    expect(iam.Resource).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/credit-risk-${Stage}-*',
    });
  });
});

describe('delivery stack scanners (.venv-scan)', () => {
  const bin = scanBin();
  if (!bin) {
    if (process.env.CI === 'true') it('has checkov and cfn-lint', () => expect(bin).toBeDefined());
    else
      it.skip('cfn-lint and checkov: SKIPPED, no .venv-scan (node scripts/python-env.mjs --scan)', () =>
        undefined);
    return;
  }

  it('cfn-lint reports no error', () => {
    expect(cfnLint(bin, file).filter((f) => !/^[WI]/.test(f.rule))).toEqual([]);
  });

  it('checkov: no HIGH check fails, and the failed checks are exactly the accepted findings', () => {
    const { failed, passed } = checkov(bin, file);
    expect(passed).toBeGreaterThan(20);
    expect(failed.filter((f) => HIGH_SEVERITY_CHECKS.has(f.checkId))).toEqual([]);
    const accepted = acceptedFindings().filter((a) => a.template === 'infra/delivery.yml');
    expect(
      failed.filter(
        (f) => !accepted.some((a) => a.checkId === f.checkId && matchesGlob(f.resource, a.resources)),
      ),
    ).toEqual([]);
    expect(
      accepted.filter(
        (a) => !failed.some((f) => f.checkId === a.checkId && matchesGlob(f.resource, a.resources)),
      ),
    ).toEqual([]);
  });
});
