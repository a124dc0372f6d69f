import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT } from './onnx-export.ts';
import { loadOnnxSession, type OnnxLoadOptions } from './onnx-session.ts';

/**
 * Loading and running an exported model with onnxruntime-node, shared by serving, predict-file,
 * the trainer's tests and the benchmarks: one place that knows the input and output names.
 */
export interface OnnxOutputs {
  /** label[i] = 1 when probabilities[i][1] >= the model's threshold. */
  label: BigInt64Array;
  /** Row-major [rows, 2]: [1 - p, p]. */
  probabilities: Float32Array;
}

export interface OnnxModel {
  /** Width of the input tensor (features per row), from the model's input shape. */
  readonly numFeatures: number;
  /** metadata_props of the model (feature_names, threshold, ...). */
  readonly metadata: Record<string, string>;
  /** Scores `rows` rows of a row-major [rows, numFeatures] float matrix (NaN = missing). */
  run(input: Float32Array, rows: number): Promise<OnnxOutputs>;
  /** The class-1 probability of each row. */
  scoreRows(input: Float32Array, rows: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export type { OnnxLoadOptions } from './onnx-session.ts';

export async function loadOnnxModel(
  source: string | Uint8Array,
  options: OnnxLoadOptions = {},
): Promise<OnnxModel> {
  const bytes = typeof source === 'string' ? new Uint8Array(await readFile(source)) : source;
  const loaded = await loadOnnxSession(bytes, options);
  const { session } = loaded;
  const numFeatures = loaded.inputWidth;
  if (loaded.inputName !== INPUT_NAME || numFeatures === undefined)
    throw new Error(`the model has no float input "${INPUT_NAME}" of fixed width [N, F]`);
  const metadata = readMetadata(bytes);
  const checkShape = (input: Float32Array, rows: number) => {
    if (input.length !== rows * numFeatures) {
      throw new RangeError(
        `input has ${input.length} values, expected ${rows} rows x ${numFeatures} features`,
      );
    }
  };
  return {
    numFeatures,
    metadata,
    async run(input, rows) {
      checkShape(input, rows);
      const tensor = new ort.Tensor('float32', input, [rows, numFeatures]);
      const out = await session.run({ [INPUT_NAME]: tensor });
      return {
        label: out[LABEL_OUTPUT].data as BigInt64Array,
        probabilities: out[PROBABILITIES_OUTPUT].data as Float32Array,
      };
    },
    scoreRows(input, rows) {
      checkShape(input, rows);
      return loaded.classOneProbabilities(input, rows, numFeatures);
    },
    release: () => loaded.release(),
  };
}

/** metadata_props, read from the protobuf (onnxruntime-node does not expose them). */
export function readMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const out: Record<string, string> = {};
  for (const entry of model.metadataProps) if (entry.key) out[entry.key] = entry.value ?? '';
  return out;
}

/**
 * Scores row-major float32 rows ([n, features], NaN = missing) with a model given as bytes and
 * returns P(y=1): the evaluate step's scorer (champion and challenger on the same rows), in AWS
 * and locally. The session lives only for the call.
 */
export async function scoreOnnxBytes(
  model: Uint8Array,
  rows: Float32Array,
  n: number,
): Promise<Float64Array> {
  const loaded = await loadOnnxModel(model);
  try {
    return Float64Array.from(await loaded.scoreRows(rows, n));
  } finally {
    await loaded.release();
  }
}
