import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  PROBABILITY_BUCKETS,
  type MetricsReader,
  type MetricsWindow,
  type VersionTraffic,
} from '#lib/ports/metrics-reader.ts';

/**
 * The local CloudWatch: reads the EMF lines the predict handler printed (diverted by
 * `credit-risk serve` into <home.metrics>/*.jsonl) and sums them per model version over a window,
 * as GetMetricData would: predictions and serverErrors counts, the p99 of predictionLatency,
 * predictionsByProbabilityBucket per bucket.
 */
export interface EmfLine {
  _aws?: { Timestamp?: number; CloudWatchMetrics?: { Namespace?: string; Metrics?: { Name: string }[] }[] };
  [key: string]: unknown;
}

const values = (v: unknown): number[] =>
  Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : [];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Nearest-rank percentile (what CloudWatch reports for pNN over raw values). */
export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Every EMF document of the *.jsonl files in dir, files in name order (none when dir is absent). */
export async function readEmfDocuments(dir: string): Promise<EmfLine[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: EmfLine[] = [];
  for (const f of files) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      if (!line.startsWith('{"_aws"')) continue;
      try {
        out.push(JSON.parse(line) as EmfLine);
      } catch {
        // A line cut by a crash mid-write: CloudWatch would drop it too.
      }
    }
  }
  return out;
}

export class EmfFileMetricsReader implements MetricsReader {
  constructor(
    readonly dir: string,
    private readonly namespace = 'CreditRisk',
  ) {}

  private lines(): Promise<EmfLine[]> {
    return readEmfDocuments(this.dir);
  }

  async traffic(modelVersion: string, window: MetricsWindow): Promise<VersionTraffic> {
    const from = window.start.getTime();
    const to = window.end.getTime();
    let predictions = 0;
    let serverErrors = 0;
    const latencies: number[] = [];
    const histogram = PROBABILITY_BUCKETS.map(() => 0);
    for (const line of await this.lines()) {
      const at = line._aws?.Timestamp ?? 0;
      if (at < from || at > to || line.modelVersion !== modelVersion) continue;
      if (!line._aws?.CloudWatchMetrics?.some((m) => (m.Namespace ?? this.namespace) === this.namespace))
        continue;
      predictions += sum(values(line.predictions));
      serverErrors += sum(values(line.serverErrors));
      latencies.push(...values(line.predictionLatency));
      const bucket = PROBABILITY_BUCKETS.indexOf(
        line.probabilityBucket as (typeof PROBABILITY_BUCKETS)[number],
      );
      if (bucket >= 0) histogram[bucket] += sum(values(line.predictionsByProbabilityBucket));
    }
    return {
      modelVersion,
      predictions,
      serverErrors,
      p99LatencyMs: percentile(latencies, 99),
      scoreHistogram: histogram,
    };
  }
}
