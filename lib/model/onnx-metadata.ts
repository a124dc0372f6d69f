/**
 * metadata_props of an ONNX model, read straight from the protobuf wire format: the registry and
 * the explainer loader need one string (explainer_sha256) and must not pull onnxruntime-node or
 * the ONNX schema into the register Lambda or the predict bundle. Every other field (the graph
 * above all) is skipped by its length, so a model of megabytes is read in microseconds.
 *
 * ModelProto.metadata_props is field 14, a repeated StringStringEntryProto {key = 1, value = 2}
 * (onnx.proto). Throws RangeError on bytes that are not a well-formed protobuf message.
 */
const METADATA_PROPS = 14;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

class Reader {
  pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('truncated varint in ONNX model');
      const b = this.bytes[this.pos++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new RangeError('varint longer than 10 bytes in ONNX model');
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new RangeError('field runs past the end of the ONNX model');
    this.pos += n;
  }

  /** Skips a field's payload, returning [start, end) when it is length-delimited. */
  field(wire: number): [number, number] | undefined {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return undefined;
      case WIRE_FIXED64:
        this.skip(8);
        return undefined;
      case WIRE_FIXED32:
        this.skip(4);
        return undefined;
      case WIRE_BYTES: {
        const n = this.varint();
        const start = this.pos;
        this.skip(n);
        return [start, this.pos];
      }
      default:
        throw new RangeError(`unsupported protobuf wire type ${wire} in ONNX model`);
    }
  }
}

export function readOnnxMetadataProps(bytes: Uint8Array): Record<string, string> {
  const utf8 = new TextDecoder();
  const out: Record<string, string> = {};
  const top = new Reader(bytes, 0, bytes.length);
  while (top.pos < top.end) {
    const tag = top.varint();
    const span = top.field(tag % 8);
    if (Math.floor(tag / 8) !== METADATA_PROPS || !span) continue;
    const entry = new Reader(bytes, span[0], span[1]);
    let key = '';
    let value = '';
    while (entry.pos < entry.end) {
      const t = entry.varint();
      const s = entry.field(t % 8);
      if (!s) continue;
      const text = utf8.decode(bytes.subarray(s[0], s[1]));
      if (Math.floor(t / 8) === 1) key = text;
      else if (Math.floor(t / 8) === 2) value = text;
    }
    if (key) out[key] = value;
  }
  return out;
}
