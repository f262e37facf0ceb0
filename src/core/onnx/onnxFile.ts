/**
 * An index of an ONNX model file: its nodes (decoded), and the byte ranges of its initializers,
 * inputs, outputs and value_info, without loading the weights.
 * Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto).
 */
import { ByteSource, FieldRef, WireType, fields, readString, readVarints } from './protobuf';

const MODEL = { graph: 7, opsetImport: 8 } as const;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, i: 3 } as const;
const TENSOR = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, name: 8, rawData: 9, dataLocation: 14 } as const;
const VALUE_INFO = { name: 1 } as const;

/** TensorProto.DataType values this project reads. */
export const enum OnnxDataType {
  Float = 1,
  Uint8 = 2,
  Int8 = 3,
  Float16 = 10,
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes (K, N, bits, block_size, …); others are not decoded. */
  attributes?: Record<string, number>;
  /** Byte range of the whole `node` field (tag included), for copying it unchanged. */
  range: [number, number];
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Where the values are: raw_data (little-endian), packed float_data, or packed int32_data (varints). */
  data: { kind: 'raw' | 'float_data' | 'int32_data'; offset: number; length: number } | { kind: 'external' };
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
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: {}, range: [f.start, f.end] };
  for (const g of fields(src, f.dataStart, f.dataStart + f.dataLength)) {
    if (g.field === NODE.input) node.inputs.push(readString(src, g));
    else if (g.field === NODE.output) node.outputs.push(readString(src, g));
    else if (g.field === NODE.name) node.name = readString(src, g);
    else if (g.field === NODE.opType) node.opType = readString(src, g);
    else if (g.field === NODE.domain) node.domain = readString(src, g);
    else if (g.field === NODE.attribute) {
      let name = '';
      let value: number | undefined;
      for (const a of fields(src, g.dataStart, g.dataStart + g.dataLength)) {
        if (a.field === ATTRIBUTE.name) name = readString(src, a);
        else if (a.field === ATTRIBUTE.i && a.wireType === WireType.Varint) value = a.varint;
      }
      if (name && value !== undefined) (node.attributes ??= {})[name] = value;
    }
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
    } else if (g.field === TENSOR.int32Data && g.wireType === WireType.LengthDelimited) {
      init.data = { kind: 'int32_data', offset: g.dataStart, length: g.dataLength };
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
  if (init.data.kind === 'int32_data') {
    if (init.dataType !== OnnxDataType.Float16) throw new Error(`initializer ${init.name} has data type ${init.dataType}; expected float or float16`);
    return Float32Array.from(readIntegerInitializer(src, init), halfToFloat);
  }
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

/**
 * Reads an 8-bit integer initializer (int8 or uint8; raw bytes or int32_data varints), or a
 * float16 one stored in int32_data as its bit patterns. Returns the values as Int32Array.
 */
export function readIntegerInitializer(src: ByteSource, init: OnnxInitializer): Int32Array {
  if (init.data.kind === 'external') throw new Error(`initializer ${init.name} is stored as external data, which is not supported`);
  const count = init.dims.reduce((a, b) => a * b, 1);
  if (init.data.kind === 'int32_data') {
    // Negative int8 values in int32_data are 10-byte varints that a JS number cannot hold exactly.
    if (init.dataType === OnnxDataType.Int8) throw new Error(`initializer ${init.name}: int8 values in int32_data are not supported (raw_data is)`);
    const values = readVarints(src, { dataStart: init.data.offset, dataLength: init.data.length, wireType: WireType.LengthDelimited } as FieldRef);
    if (values.length !== count) throw new Error(`initializer ${init.name}: expected ${count} values, found ${values.length}`);
    return Int32Array.from(values);
  }
  if (init.dataType !== OnnxDataType.Int8 && init.dataType !== OnnxDataType.Uint8) {
    throw new Error(`initializer ${init.name} has data type ${init.dataType}; expected int8 or uint8`);
  }
  const bytes = src.read(init.data.offset, init.data.length);
  if (bytes.length !== count) throw new Error(`initializer ${init.name}: expected ${count} bytes, found ${bytes.length}`);
  const out = new Int32Array(count);
  if (init.dataType === OnnxDataType.Int8) for (let i = 0; i < count; i++) out[i] = bytes.readInt8(i);
  else for (let i = 0; i < count; i++) out[i] = bytes[i];
  return out;
}

/** Reads a uint8 initializer's raw bytes (packed 4-bit weights, packed zero points). */
export function readByteInitializer(src: ByteSource, init: OnnxInitializer): Buffer {
  if (init.data.kind !== 'raw' || init.dataType !== OnnxDataType.Uint8) {
    throw new Error(`initializer ${init.name}: expected uint8 raw data (data type ${init.dataType}, ${init.data.kind})`);
  }
  const count = init.dims.reduce((a, b) => a * b, 1);
  const bytes = src.read(init.data.offset, init.data.length);
  if (bytes.length !== count) throw new Error(`initializer ${init.name}: expected ${count} bytes, found ${bytes.length}`);
  return bytes;
}
