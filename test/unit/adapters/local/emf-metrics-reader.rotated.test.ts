import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmfFileMetricsReader } from '#lib/adapters/local/emf-metrics-reader.ts';
import { LineFile } from '#local/server/telemetry-sink.ts';

/**
 * The local canary judge reads EMF lines over a window from every `*.jsonl` of the metrics
 * directory: a window that spans a rotation still counts every request (the rotated files keep
 * the `.jsonl` ending), as long as the lines are within the cap.
 */
describe('EMF reader over rotated metric files', () => {
  it('counts the requests of a window whose lines were rotated into predict.emf.<n>.jsonl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-emf-rotated-'));
    const file = new LineFile(join(dir, 'predict.emf.jsonl'), { maxBytes: 1500, keep: 8 });
    for (let i = 0; i < 40; i++) {
      file.add(
        JSON.stringify({
          _aws: {
            Timestamp: 1_000_000 + i,
            CloudWatchMetrics: [{ Namespace: 'CreditRisk', Metrics: [{ Name: 'predictions' }] }],
          },
          modelVersion: 'v1',
          predictions: 1,
          predictionLatency: 2,
        }) + '\n',
      );
      if (i % 5 === 4) file.flush();
    }
    file.close();
    expect(readdirSync(dir).filter((f) => /\.\d+\.jsonl$/.test(f)).length).toBeGreaterThan(1);
    const traffic = await new EmfFileMetricsReader(dir).traffic('v1', {
      start: new Date(1_000_000),
      end: new Date(1_000_039),
    });
    expect(traffic.predictions).toBe(40);
  });
});
