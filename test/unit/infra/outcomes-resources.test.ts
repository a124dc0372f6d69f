import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { OUTCOMES_DROP_PREFIX, OUTCOMES_REFUSED_PREFIX } from '#functions/ingest-outcomes/schema.ts';
import { REALIZED_AUC_GAP_MAX } from '#lib/monitoring/alarm-thresholds.ts';
import { OUTCOMES_PREFIX } from '#lib/monitoring/outcomes.ts';
import { PREDICTION_LOG_DATE_PREFIX } from '#lib/monitoring/prediction-log-records.ts';
import { PREDICTION_LOG_PREFIX } from '#lib/privacy/personal-data.ts';
import { parseCfnYaml } from '../../integration/infra/template.ts';

/**
 * infra/resources/outcomes.yml against the code it serves (the packaged template's cfn-lint,
 * checkov, boundary and least-privilege checks are test/integration/infra/application-template.test.ts):
 * the key layout Firehose writes is the one the reader reads, the alarm watches a metric with the
 * dimensions the realized-performance function emits (test/unit/functions/outcomes-handlers.test.ts
 * shows it emits realizedAucGap on `service` alone), and its threshold default is the code's.
 */
const root = resolve(import.meta.dirname, '../../..');
const outcomes = parseCfnYaml(readFileSync(resolve(root, 'infra/resources/outcomes.yml'), 'utf8')).Resources;
const serverless = parseCfnYaml(readFileSync(resolve(root, 'serverless.yml'), 'utf8'));
const events = parseCfnYaml(readFileSync(resolve(root, 'infra/resources/events.yml'), 'utf8')).Resources;

describe('infra/resources/outcomes.yml', () => {
  it('is in the stack', () => {
    expect(serverless.resources).toContain('${file(infra/resources/outcomes.yml)}');
  });

  it('Firehose writes where the prediction log reader reads, encrypted, and its errors stay under the retention prefix', () => {
    const s = outcomes.PredictionLogStream.Properties;
    expect(s.DeliveryStreamEncryptionConfigurationInput).toEqual({ KeyType: 'AWS_OWNED_CMK' });
    const d = s.ExtendedS3DestinationConfiguration;
    expect(d.BucketARN).toEqual({ 'Fn::GetAtt': ['FeaturesBucket', 'Arn'] });
    expect(d.Prefix).toBe(`${PREDICTION_LOG_DATE_PREFIX}!{timestamp:yyyy-MM-dd}/`);
    expect(d.ErrorOutputPrefix.startsWith(PREDICTION_LOG_PREFIX)).toBe(true);
    expect(d.ErrorOutputPrefix.startsWith(PREDICTION_LOG_DATE_PREFIX)).toBe(false);
    expect(d.CompressionFormat).toBe('UNCOMPRESSED');
    expect(OUTCOMES_PREFIX.startsWith(PREDICTION_LOG_PREFIX)).toBe(true);
  });

  it('the predict function may only PutRecordBatch, on this stream', () => {
    const p = outcomes.PredictPredictionLogPolicy.Properties;
    expect(p.Roles).toEqual([{ Ref: 'PredictRole' }]);
    expect(p.PolicyDocument.Statement).toEqual([
      {
        Sid: 'RecordServedPredictions',
        Effect: 'Allow',
        Action: ['firehose:PutRecordBatch'],
        Resource: { 'Fn::GetAtt': ['PredictionLogStream', 'Arn'] },
      },
    ]);
    expect(serverless.functions.predict.environment.PREDICTION_LOG_STREAM).toEqual({
      Ref: 'PredictionLogStream',
    });
  });

  it('drops under outcomes/ go to ingest-outcomes, and never start a training', () => {
    const rule = outcomes.OutcomesDropRule.Properties;
    expect(rule.EventPattern.detail.object.key).toEqual([{ prefix: OUTCOMES_DROP_PREFIX }]);
    expect(rule.Targets[0].Arn).toEqual({ 'Fn::GetAtt': ['IngestOutcomesLambdaFunction', 'Arn'] });
    const training = events.NewRawDataRule.Properties.EventPattern.detail.object.key;
    expect(training).toEqual([{ 'anything-but': { prefix: 'outcomes' } }]);
    for (const p of [OUTCOMES_DROP_PREFIX, OUTCOMES_REFUSED_PREFIX])
      expect(p.startsWith('outcomes')).toBe(true);
  });

  it("the gap alarm watches realizedAucGap of the realized-performance service, with the code's default bound", () => {
    const a = outcomes.RealizedAucGapAlarm.Properties;
    expect({ ns: a.Namespace, metric: a.MetricName, dims: a.Dimensions }).toEqual({
      ns: 'CreditRisk',
      metric: 'realizedAucGap',
      dims: [
        {
          Name: 'service',
          Value: serverless.functions.realizedPerformance.environment.POWERTOOLS_SERVICE_NAME,
        },
      ],
    });
    expect(a.Threshold).toBe('${param:realizedAucGapMax}');
    // The param is read from the thresholds module at package time (ADR 0175).
    expect(serverless.params.default.realizedAucGapMax).toBe(
      '${file(infra/alarm-thresholds.cjs):REALIZED_AUC_GAP_MAX}',
    );
    expect(createRequire(import.meta.url)(resolve(root, 'infra/alarm-thresholds.cjs'))).toMatchObject({
      REALIZED_AUC_GAP_MAX,
    });
    expect(a.ComparisonOperator).toBe('GreaterThanThreshold');
  });
});
