import * as ort from 'onnxruntime-node';

/** How a session is created, for every caller (one options type). */
export interface OnnxLoadOptions {
  /**
   * onnxruntime's intra-op threads per run: default 1 (Lambda and serving scale by instances, and
   * for one row a thread pool only adds latency); 0 lets onnxruntime pick one per core (batches).
   */
  intraOpNumThreads?: number;
}

/** A loaded model reduced to what every caller needs: rows in, P(class 1) out. */
export interface OnnxSession {
  readonly session: ort.InferenceSession;
  readonly inputName: string;
  /** The output holding probabilities. */
  readonly probabilityOutput: string;
  /** Width of the input tensor when the model fixes it, else undefined. */
  readonly inputWidth: number | undefined;
  /** P(class 1) of each of `rows` rows of a row-major [rows, width] float32 matrix (NaN = missing). */
  classOneProbabilities(input: Float32Array, rows: number, width: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * The one ONNX loader (lib/model/onnx-runtime.ts for the trainer, evaluate and predict-file, and
 * lib/serving/model.ts for /predict and batch scoring build on it): sequential execution, every
 * graph optimisation, `intraOpNumThreads` threads per run. The input and the probability output are
 * taken by position and name, so a model exported by another tool (the serving tests' fixture)
 * loads too. Its own module, importing nothing else of ours, so the predict bundle does not pull in
 * the ONNX exporter.
 */
export async function loadOnnxSession(
  bytes: Uint8Array,
  options: OnnxLoadOptions = {},
): Promise<OnnxSession> {
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const probabilityOutput = pickProbabilityOutput(session.outputNames);
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  const width = meta?.isTensor ? meta.shape[1] : undefined;
  return {
    session,
    inputName,
    probabilityOutput,
    inputWidth: typeof width === 'number' ? width : undefined,
    async classOneProbabilities(input, rows, w) {
      const tensor = new ort.Tensor('float32', input, [rows, w]);
      const result = await session.run({ [inputName]: tensor }, [probabilityOutput]);
      return classOneProbabilities(result[probabilityOutput], rows);
    },
    release: () => session.release(),
  };
}

/** The output holding probabilities: named so by the exporter, else the last output. */
function pickProbabilityOutput(names: readonly string[]): string {
  return names.find((n) => /^prob/i.test(n)) ?? names[names.length - 1];
}

/**
 * P(class 1) per row from a [N, 2] (both classes) or [N, 1] / [N] (class 1 only) float tensor.
 * Never derived from a label output: onnxruntime's binary TreeEnsembleClassifier can disagree
 * between its labels and its probabilities.
 */
export function classOneProbabilities(tensor: ort.Tensor, rows: number): Float32Array {
  const data = tensor.data as Float32Array;
  const width = tensor.dims.length === 2 ? Number(tensor.dims[1]) : 1;
  if (width === 1) return data.length === rows ? data : data.subarray(0, rows);
  if (width !== 2) throw new Error(`probability output has ${width} columns; expected 1 or 2`);
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = data[r * 2 + 1];
  return out;
}
