import * as ort from 'onnxruntime-node';

export interface LoadOptions {
  /** onnxruntime's intra-op threads; default 1 (Lambda and serving scale by instances, not threads). */
  intraOpNumThreads?: number;
}

/**
 * The one place an onnxruntime session is created, for every caller (lib/model/onnx-runtime.ts for
 * the trainer, evaluate and predict-file; lib/serving/model.ts for /predict and batch scoring):
 * sequential execution, every graph optimisation, `intraOpNumThreads` (default 1) threads per run.
 * Its own module, importing nothing else, so the predict bundle does not pull in the ONNX exporter.
 */
export function createInferenceSession(
  bytes: Uint8Array,
  options: LoadOptions = {},
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}
