// Jest environment for tests that run onnxruntime-node. The native backend creates output typed
// arrays in Node's main realm, while onnxruntime-common, loaded inside jest's vm context, checks
// them with `instanceof Float32Array` against the context's own constructors and throws
// "A float32 tensor's data must be type of function Float32Array()". Sharing the main realm's
// typed-array constructors with the test context makes both sides agree.
// Use it with a docblock at the top of a test file:  /** @jest-environment ./test/integration/serving/onnx-environment.cjs */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxEnvironment;
