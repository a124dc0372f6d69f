import { Worker } from 'node:worker_threads';
import {
  allocateShapScratch,
  SHAP_BLOCK_ROWS,
  shapKernel,
  type ShapKernelModel,
  type ShapScratch,
} from './shap.ts';

/**
 * TreeSHAP of many rows on several threads: threads - 1 worker threads plus the calling thread
 * share the input rows and the output (SharedArrayBuffers) and take chunks of rows from one
 * Atomics counter, so a thread the OS runs less simply takes fewer chunks. Rows are independent
 * and each is computed by the same kernel, so the result does not depend on which thread ran it.
 *
 * Workers are built from the kernel's source text (eval), like the GBDT's pool
 * (lib/model/gbdt/pool.ts): the same under tsx, jest and an esbuild bundle, no worker file to ship.
 */
const CHUNK_ROWS = 256;

interface Job {
  x: Float32Array;
  out: Float64Array;
  counter: Int32Array;
  rows: number;
  chunk: number;
}

const WORKER_SOURCE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const shapKernel = (${shapKernel.toString()});
  const allocateShapScratch = (${allocateShapScratch.toString()});
  const m = workerData.kernel;
  const scratch = allocateShapScratch(m, ${SHAP_BLOCK_ROWS});
  parentPort.on('message', (job) => {
    for (;;) {
      const start = Atomics.add(job.counter, 0, job.chunk);
      if (start >= job.rows) break;
      shapKernel(m, job.x, start, Math.min(job.rows, start + job.chunk), job.out, scratch);
    }
    parentPort.postMessage('done');
  });
`;

function shared(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, bytes));
}

export class ShapPool {
  private readonly workers: Worker[] = [];
  private readonly scratch: ShapScratch;
  private busy = false;

  constructor(
    readonly kernel: ShapKernelModel,
    threads: number,
  ) {
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`threads must be an integer >= 1, got ${threads}`);
    this.scratch = allocateShapScratch(kernel);
    for (let i = 1; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { kernel } });
      // A pool someone forgot to close must not keep the process alive.
      worker.unref();
      this.workers.push(worker);
    }
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * SHAP values of `rows` rows of a row-major float32 matrix ([rows, F], NaN = missing):
   * Float64Array [rows, F + 1], the bias last. One call at a time per pool.
   */
  async explainRows(matrix: Float32Array, rows: number): Promise<Float64Array> {
    return (await this.explainRowsWhile(matrix, rows, () => undefined)).contributions;
  }

  /**
   * explainRows that first runs `meanwhile` on the calling thread while the workers explain, then
   * joins them for the chunks left (as predictForestWhile does for scores, ADR 0202). The same
   * values as explainRows.
   */
  async explainRowsWhile<T>(
    matrix: Float32Array,
    rows: number,
    meanwhile: () => T | Promise<T>,
  ): Promise<{ contributions: Float64Array; meanwhile: T }> {
    const F = this.kernel.numFeatures;
    if (matrix.length !== rows * F)
      throw new RangeError(`matrix has ${matrix.length} values, expected ${rows} x ${F}`);
    if (this.busy) throw new Error('ShapPool.explainRows: one call at a time');
    this.busy = true;
    try {
      let x = matrix;
      if (this.workers.length > 0 && !(matrix.buffer instanceof SharedArrayBuffer)) {
        x = new Float32Array(shared(matrix.byteLength), 0, matrix.length);
        x.set(matrix);
      }
      const width = (F + 1) * rows;
      const out =
        this.workers.length > 0 ? new Float64Array(shared(width * 8), 0, width) : new Float64Array(width);
      const counter = new Int32Array(shared(4), 0, 1);
      const job: Job = { x, out, counter, rows, chunk: CHUNK_ROWS };
      const done = this.workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const onError = (e: Error) => {
              w.off('message', onMessage);
              reject(e);
            };
            const onMessage = () => {
              w.off('error', onError);
              resolve();
            };
            w.once('message', onMessage);
            w.once('error', onError);
            w.postMessage(job);
          }),
      );
      // A worker that fails while `meanwhile` runs is reported by Promise.all below.
      for (const d of done) d.catch(() => {});
      let value: T;
      try {
        value = await meanwhile();
      } catch (e) {
        // Stop the job (the workers take no further chunk) and wait for them, so that their
        // reply cannot be taken for the next call's.
        Atomics.store(counter, 0, rows);
        await Promise.allSettled(done);
        throw e;
      }
      for (;;) {
        const start = Atomics.add(counter, 0, CHUNK_ROWS);
        if (start >= rows) break;
        shapKernel(this.kernel, x, start, Math.min(rows, start + CHUNK_ROWS), out, this.scratch);
      }
      await Promise.all(done);
      return { contributions: out, meanwhile: value };
    } finally {
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
