import onnxProto from 'onnx-proto';
import type { GbdtModel } from './gbdt/booster.ts';

const { onnx } = onnxProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

/**
 * The exported graph (docs/adr/0048-onnx-graph-tree-ensemble-regressor-sigmoid.md):
 *
 *   input float[N, F] -> ai.onnx.ml.TreeEnsembleRegressor (SUM, base_values = base score)
 *     -> raw_score float[N, 1] -> Sigmoid -> p1
 *   probabilities float[N, 2] = Concat(1 - p1, p1)
 *   label int64[N]            = Reshape(Cast(p1 >= threshold))
 *
 * A regressor plus explicit columns, not TreeEnsembleClassifier: onnxruntime's binary classifier
 * either disagrees between its label and its probabilities (leaf weights for both classes) or
 * does not give 1 - p as the class-0 column (class-1 weights only). Every output is tested.
 *
 * Splits are BRANCH_LT on float32 bin edges, with nodes_missing_value_tracks_true carrying each
 * node's learned direction for NaN. Opsets: ai.onnx 17 and ai.onnx.ml 3, IR version 8 (what
 * onnx-proto 8 encodes; onnxruntime-node and Python onnx 1.17 both load it).
 */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
export const ONNX_ML_OPSET = 3;
export const INPUT_NAME = 'input';
export const LABEL_OUTPUT = 'label';
export const PROBABILITIES_OUTPUT = 'probabilities';

export interface OnnxExportOptions {
  featureNames: readonly string[];
  /** label = 1 when p >= threshold (a float32 number, so both sides compare the same value). */
  threshold: number;
  /** Extra model metadata (metadata_props); must not contain times or anything run-dependent. */
  metadata?: Record<string, string>;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const A = onnx.AttributeProto.AttributeType;

function ints(name: string, values: number[]): IAttributeProto {
  return { name, type: A.INTS, ints: values };
}
function floats(name: string, values: number[]): IAttributeProto {
  return { name, type: A.FLOATS, floats: values };
}
function strings(name: string, values: string[]): IAttributeProto {
  return { name, type: A.STRINGS, strings: values.map(utf8) };
}
function str(name: string, value: string): IAttributeProto {
  return { name, type: A.STRING, s: utf8(value) };
}
function int(name: string, value: number): IAttributeProto {
  return { name, type: A.INT, i: value };
}

function tensorInfo(name: string, elemType: number, dims: (number | string)[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** The tree ensemble as TreeEnsembleRegressor attributes (node ids are the trainer's node indices). */
function treeEnsembleAttributes(model: GbdtModel): IAttributeProto[] {
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const modes: string[] = [];
  const values: number[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const missingTrue: number[] = [];
  const targetTree: number[] = [];
  const targetNode: number[] = [];
  const targetIds: number[] = [];
  const targetWeights: number[] = [];
  model.trees.forEach((t, treeId) => {
    for (let node = 0; node < t.numNodes; node++) {
      treeIds.push(treeId);
      nodeIds.push(node);
      if (t.left[node] >= 0) {
        featureIds.push(t.feature[node]);
        modes.push('BRANCH_LT');
        values.push(t.threshold[node]);
        trueIds.push(t.left[node]);
        falseIds.push(t.right[node]);
        missingTrue.push(t.missingLeft[node]);
      } else {
        featureIds.push(0);
        modes.push('LEAF');
        values.push(0);
        trueIds.push(0);
        falseIds.push(0);
        missingTrue.push(0);
        targetTree.push(treeId);
        targetNode.push(node);
        targetIds.push(0);
        targetWeights.push(t.value[node]);
      }
    }
  });
  return [
    str('aggregate_function', 'SUM'),
    floats('base_values', [model.baseScore]),
    int('n_targets', 1),
    ints('nodes_falsenodeids', falseIds),
    ints('nodes_featureids', featureIds),
    ints('nodes_missing_value_tracks_true', missingTrue),
    strings('nodes_modes', modes),
    ints('nodes_nodeids', nodeIds),
    ints('nodes_treeids', treeIds),
    ints('nodes_truenodeids', trueIds),
    floats('nodes_values', values),
    str('post_transform', 'NONE'),
    ints('target_ids', targetIds),
    ints('target_nodeids', targetNode),
    ints('target_treeids', targetTree),
    floats('target_weights', targetWeights),
  ];
}

/** The model as ONNX bytes. Deterministic: the same model and options give the same bytes. */
export function exportOnnx(model: GbdtModel, options: OnnxExportOptions): Uint8Array {
  const F = model.numFeatures;
  if (options.featureNames.length !== F) {
    throw new RangeError(`${options.featureNames.length} feature names for a model of ${F} features`);
  }
  const threshold = Math.fround(options.threshold);
  if (!(threshold >= 0 && threshold <= 1))
    throw new RangeError(`threshold must be in [0, 1], got ${options.threshold}`);
  const T = onnx.TensorProto.DataType;
  const initializers: ITensorProto[] = [
    { name: 'one', dataType: T.FLOAT, dims: [], floatData: [1] },
    { name: 'threshold', dataType: T.FLOAT, dims: [], floatData: [threshold] },
    { name: 'label_shape', dataType: T.INT64, dims: [1], int64Data: [-1] },
  ];
  const nodes: INodeProto[] = [
    {
      name: 'trees',
      opType: 'TreeEnsembleRegressor',
      domain: 'ai.onnx.ml',
      input: [INPUT_NAME],
      output: ['raw_score'],
      attribute: treeEnsembleAttributes(model),
    },
    { name: 'sigmoid', opType: 'Sigmoid', input: ['raw_score'], output: ['p1'] },
    { name: 'complement', opType: 'Sub', input: ['one', 'p1'], output: ['p0'] },
    {
      name: 'columns',
      opType: 'Concat',
      input: ['p0', 'p1'],
      output: [PROBABILITIES_OUTPUT],
      attribute: [int('axis', 1)],
    },
    { name: 'decide', opType: 'GreaterOrEqual', input: ['p1', 'threshold'], output: ['positive'] },
    {
      name: 'to_int64',
      opType: 'Cast',
      input: ['positive'],
      output: ['label_column'],
      attribute: [int('to', T.INT64)],
    },
    { name: 'flatten', opType: 'Reshape', input: ['label_column', 'label_shape'], output: [LABEL_OUTPUT] },
  ];
  const metadata: Record<string, string> = {
    feature_names: JSON.stringify(options.featureNames),
    threshold: String(threshold),
    ...options.metadata,
  };
  const modelProto = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    producerName: 'credit-risk',
    producerVersion: '1',
    domain: 'credit-risk',
    modelVersion: 1,
    docString: 'Binary GBDT: probabilities[:, 1] is the probability of status = 1.',
    opsetImport: [
      { domain: '', version: ONNX_OPSET },
      { domain: 'ai.onnx.ml', version: ONNX_ML_OPSET },
    ],
    metadataProps: Object.keys(metadata)
      .sort()
      .map((key) => ({ key, value: metadata[key] })),
    graph: {
      name: 'credit_risk_gbdt',
      node: nodes,
      initializer: initializers,
      input: [tensorInfo(INPUT_NAME, T.FLOAT, ['N', F])],
      output: [tensorInfo(LABEL_OUTPUT, T.INT64, ['N']), tensorInfo(PROBABILITIES_OUTPUT, T.FLOAT, ['N', 2])],
    },
  });
  return onnx.ModelProto.encode(modelProto).finish();
}
