/**
 * Coalesces small scoring calls that arrive in the same turn of the event loop into one model run.
 *
 * Why: an onnxruntime-node `session.run` costs about the same for 1 row as for 16 (measured on the
 * serving GBDT: ~19 us for 1 row, ~22 us for 16; the fixed part is the call, the tensors and the
 * output copies, not the trees). Under HTTP load one `credit-risk serve` worker holds 16
 * connections, and the requests it reads in one poll phase all reach `scoreRows` before the
 * check phase; running them as one [n, width] tensor there pays the fixed part once
 * (docs/adr/0023-coalesced-onnx-runs.md). The model's own `run` already defers to a `setImmediate`, so a
 * lone request (a Lambda invocation, always) waits no longer than one extra turn and runs as a
 * batch of one, with the very same result.
 *
 * Rows are independent in a tree ensemble, so each caller gets exactly the probabilities a run of
 * its own rows would give (test/unit/serving/row-batcher.test.ts). Calls with more rows than
 * `maxCallRows` (batch scoring's chunks) and calls whose buffer does not match `rows * width` go
 * straight to the model, as before. A failing run rejects every call of its batch.
 *
 * The same coalescing serves TreeSHAP (lib/serving/model.ts): explaining rows together, tree by
 * tree, costs 25-35% less per row than one at a time (docs/adr/0127-explanations-on-every-scoring-path.md),
 * and each row's explanation is its own ([F contributions, bias] per row: `outWidth` F + 1).
 */
export type ScoreRows = (features: Float32Array, rows: number) => Promise<Float32Array>;
/** A run over rows whose answer has `outWidth` numbers per row. */
export type RowsRun<T extends Float32Array | Float64Array> = (
  features: Float32Array,
  rows: number,
) => Promise<T>;

export interface RowBatcherOptions {
  /** Input width (features per row). */
  width: number;
  /** Numbers per row in a run's answer. Default 1 (a probability). */
  outWidth?: number;
  /** Calls with more rows than this are not coalesced. Default 8. */
  maxCallRows?: number;
  /** The most rows one coalesced run holds; a bigger backlog is split. Default 256. */
  maxBatchRows?: number;
  /** Called with the size of each coalesced run (a test or a profile). */
  onBatch?: (rows: number, calls: number) => void;
}

interface Pending<T> {
  features: Float32Array;
  rows: number;
  resolve: (p: T) => void;
  reject: (e: unknown) => void;
}

export function createRowBatcher<T extends Float32Array | Float64Array = Float32Array>(
  run: RowsRun<T>,
  options: RowBatcherOptions,
): RowsRun<T> {
  const { width } = options;
  const outWidth = options.outWidth ?? 1;
  const maxCallRows = options.maxCallRows ?? 8;
  const maxBatchRows = Math.max(maxCallRows, options.maxBatchRows ?? 256);
  let queue: Pending<T>[] = [];
  let scheduled = false;

  function runBatch(batch: Pending<T>[], rows: number): void {
    if (batch.length === 1) {
      const only = batch[0];
      run(only.features, only.rows).then(only.resolve, only.reject);
      options.onBatch?.(rows, 1);
      return;
    }
    const input = new Float32Array(rows * width);
    let at = 0;
    for (const p of batch) {
      input.set(p.features, at * width);
      at += p.rows;
    }
    options.onBatch?.(rows, batch.length);
    run(input, rows).then(
      (out) => {
        let from = 0;
        for (const p of batch) {
          p.resolve(out.slice(from * outWidth, (from + p.rows) * outWidth) as T);
          from += p.rows;
        }
      },
      (e: unknown) => {
        for (const p of batch) p.reject(e);
      },
    );
  }

  function flush(): void {
    scheduled = false;
    const all = queue;
    queue = [];
    let batch: Pending<T>[] = [];
    let rows = 0;
    for (const p of all) {
      if (rows + p.rows > maxBatchRows) {
        runBatch(batch, rows);
        batch = [];
        rows = 0;
      }
      batch.push(p);
      rows += p.rows;
    }
    if (batch.length > 0) runBatch(batch, rows);
  }

  return (features, rows) => {
    if (rows < 1 || rows > maxCallRows || features.length !== rows * width) return run(features, rows);
    return new Promise<T>((resolve, reject) => {
      queue.push({ features, rows, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };
}
