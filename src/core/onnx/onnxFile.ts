/**
 * An index of an ONNX model file: its nodes (decoded), and the byte ranges of its initializers,
 * inputs, outputs and value_info, without loading the weights.
 * Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto).
 */
import { ByteSource, FieldRef, WireType, fields, readString, readVarints } from './protobuf';

const MODEL = { graph: 7, opsetImport: 8 } as const;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, domain: 7 } as const;
const TENSOR = { dims: 1, dataType: 2, floatData: 4, name: 8, rawData: 9, dataLocation: 14 } as const;
const VALUE_INFO = { name: 1 } as const;

/** TensorProto.DataType values this project reads. */
export const enum OnnxDataType {
  Float = 1,
  Float16 = 10,
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Byte range of the whole `node` field (tag included), for copying it unchanged. */
  range: [number, number];
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Where the values are: raw_data (little-endian) or packed float_data. */
  data: { kind: 'raw' | 'float_data'; offset: number; length: number } | { kind: 'external' };
  range: [number, number];
}

export interface OnnxValueInfo {
  name: string;
  range: [number, number];
}

export interface OnnxIndex {
  /** The `graph` field of the ModelProto (tag included) and its payload. */
  graphField: FieldRef;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxInitializer>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  /** Graph fields other than the ones above (name, doc_string, …), copied unchanged. */
  otherGraphFields: Array<[number, number]>;
  opset: number;
}

export function indexOnnx(src: ByteSource): OnnxIndex {
  let graphField: FieldRef | undefined;
  let opset = 0;
  for (const f of fields(src, 0, src.size)) {
    if (f.field === MODEL.graph && f.wireType === WireType.LengthDelimited) graphField = f;
    if (f.field === MODEL.opsetImport && f.wireType === WireType.LengthDelimited) {
      let domain = '';
      let version = 0;
      for (const g of fields(src, f.dataStart, f.dataStart + f.dataLength)) {
        if (g.field === 1) domain = readString(src, g);
        if (g.field === 2) version = g.varint;
      }
      if (domain === '' || domain === 'ai.onnx') opset = version;
    }
  }
  if (!graphField) throw new Error('not an ONNX model: no graph found');

  const index: OnnxIndex = {
    graphField,
    nodes: [],
    initializers: new Map(),
    inputs: [],
    outputs: [],
    valueInfo: [],
    otherGraphFields: [],
    opset,
  };
  for (const f of fields(src, graphField.dataStart, graphField.dataStart + graphField.dataLength)) {
    switch (f.field) {
      case GRAPH.node:
        index.nodes.push(readNode(src, f));
        break;
      case GRAPH.initializer: {
        const init = readInitializer(src, f);
        index.initializers.set(init.name, init);
        break;
      }
      case GRAPH.input:
        index.inputs.push(readValueInfo(src, f));
        break;
      case GRAPH.output:
        index.outputs.push(readValueInfo(src, f));
        break;
      case GRAPH.valueInfo:
        index.valueInfo.push(readValueInfo(src, f));
        break;
      default:
        index.otherGraphFields.push([f.start, f.end]);
    }
  }
  return index;
}

function readNode(src: ByteSource, f: FieldRef): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], range: [f.start, f.end] };
  for (const g of fields(src, f.dataStart, f.dataStart + f.dataLength)) {
    if (g.field === NODE.input) node.inputs.push(readString(src, g));
    else if (g.field === NODE.output) node.outputs.push(readString(src, g));
    else if (g.field === NODE.name) node.name = readString(src, g);
    else if (g.field === NODE.opType) node.opType = readString(src, g);
    else if (g.field === NODE.domain) node.domain = readString(src, g);
  }
  return node;
}

function readInitializer(src: ByteSource, f: FieldRef): OnnxInitializer {
  const init: OnnxInitializer = { name: '', dims: [], dataType: 0, data: { kind: 'external' }, range: [f.start, f.end] };
  let external = false;
  for (const g of fields(src, f.dataStart, f.dataStart + f.dataLength)) {
    if (g.field === TENSOR.dims) init.dims.push(...readVarints(src, g));
    else if (g.field === TENSOR.dataType) init.dataType = g.varint;
    else if (g.field === TENSOR.name) init.name = readString(src, g);
    else if (g.field === TENSOR.rawData) init.data = { kind: 'raw', offset: g.dataStart, length: g.dataLength };
    else if (g.field === TENSOR.floatData && g.wireType === WireType.LengthDelimited) {
      init.data = { kind: 'float_data', offset: g.dataStart, length: g.dataLength };
    } else if (g.field === TENSOR.dataLocation && g.varint === 1) external = true;
  }
  if (external) init.data = { kind: 'external' };
  return init;
}

function readValueInfo(src: ByteSource, f: FieldRef): OnnxValueInfo {
  let name = '';
  for (const g of fields(src, f.dataStart, f.dataStart + f.dataLength)) {
    if (g.field === VALUE_INFO.name) name = readString(src, g);
  }
  return { name, range: [f.start, f.end] };
}

/** Decodes an fp16 value (IEEE 754 binary16) to a JS number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Reads a float or float16 initializer as Float32Array (row-major, `dims` order). */
export function readFloatInitializer(src: ByteSource, init: OnnxInitializer): Float32Array {
  if (init.data.kind === 'external') {
    throw new Error(`initializer ${init.name} is stored as external data, which is not supported`);
  }
  const count = init.dims.reduce((a, b) => a * b, 1);
  const bytes = src.read(init.data.offset, init.data.length);
  const out = new Float32Array(count);
  if (init.dataType === OnnxDataType.Float) {
    if (bytes.length !== count * 4) throw new Error(`initializer ${init.name}: expected ${count * 4} bytes, found ${bytes.length}`);
    for (let i = 0; i < count; i++) out[i] = bytes.readFloatLE(i * 4);
  } else if (init.dataType === OnnxDataType.Float16) {
    if (init.data.kind !== 'raw' || bytes.length !== count * 2) {
      throw new Error(`initializer ${init.name}: expected ${count * 2} bytes of float16`);
    }
    for (let i = 0; i < count; i++) out[i] = halfToFloat(bytes.readUInt16LE(i * 2));
  } else {
    throw new Error(`initializer ${init.name} has data type ${init.dataType}; expected float or float16`);
  }
  return out;
}
