/**
 * The protobuf walker and the ONNX index against an independent implementation: protobufjs
 * decodes what we walk (the ONNX files torch wrote, and the pruned graph we write) and encodes
 * what we read. The schema below is onnx.proto's field numbers for the parts this project reads.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import protobuf = require('protobufjs');
import { fixtureModel, tempDir } from '../../../test/helpers';
import { indexOnnx } from './onnxFile';
import { BufferSource, FileSource, WireType, encodeBytesField, encodeStringField, encodeVarint, encodeVarintField, fields, readString, readVarint, readVarints } from './protobuf';
import { prepareVisionGraph } from './visionGraph';

const onnx = protobuf.Root.fromJSON({
  nested: {
    ModelProto: { fields: { irVersion: { type: 'int64', id: 1 }, graph: { type: 'GraphProto', id: 7 }, opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 } } },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    GraphProto: {
      fields: {
        node: { rule: 'repeated', type: 'NodeProto', id: 1 },
        name: { type: 'string', id: 2 },
        initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
        input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
        output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
        valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
      },
    },
    NodeProto: { fields: { input: { rule: 'repeated', type: 'string', id: 1 }, output: { rule: 'repeated', type: 'string', id: 2 }, name: { type: 'string', id: 3 }, opType: { type: 'string', id: 4 }, domain: { type: 'string', id: 7 } } },
    TensorProto: {
      fields: {
        dims: { rule: 'repeated', type: 'int64', id: 1 },
        dataType: { type: 'int32', id: 2 },
        floatData: { rule: 'repeated', type: 'float', id: 4 },
        name: { type: 'string', id: 8 },
        rawData: { type: 'bytes', id: 9 },
        externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
        dataLocation: { type: 'int32', id: 14 },
      },
    },
    StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    ValueInfoProto: { fields: { name: { type: 'string', id: 1 } } },
  },
});
const ModelProto = onnx.lookupType('ModelProto');

interface Decoded {
  opsetImport: Array<{ domain?: string; version: number }>;
  graph: {
    node: Array<{ input?: string[]; output?: string[]; name?: string; opType?: string; domain?: string }>;
    initializer: Array<{ name: string; dims?: number[]; dataType: number; rawData?: Buffer; floatData?: number[]; externalData?: Array<{ key: string; value: string }>; dataLocation?: number }>;
    input: Array<{ name: string }>;
    output: Array<{ name: string }>;
    valueInfo?: Array<{ name: string }>;
  };
}

const decode = (bytes: Buffer) => ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Buffer, arrays: true, defaults: true }) as Decoded;

function compareIndex(file: string): { decoded: Decoded; index: ReturnType<typeof indexOnnx> } {
  const bytes = fs.readFileSync(file);
  const decoded = decode(bytes);
  const index = indexOnnx(new BufferSource(bytes));
  const label = path.basename(path.dirname(path.dirname(file))) + '/' + path.basename(file);
  assert.ok(decoded.graph.node.length > 10, label);
  assert.deepEqual(
    index.nodes.map((n) => ({ name: n.name, opType: n.opType, domain: n.domain, inputs: n.inputs, outputs: n.outputs })),
    decoded.graph.node.map((n) => ({ name: n.name, opType: n.opType, domain: n.domain, inputs: n.input, outputs: n.output })),
    `${label}: nodes`,
  );
  assert.deepEqual(index.inputs.map((v) => v.name), decoded.graph.input.map((v) => v.name), `${label}: inputs`);
  assert.deepEqual(index.outputs.map((v) => v.name), decoded.graph.output.map((v) => v.name), `${label}: outputs`);
  assert.deepEqual(index.valueInfo.map((v) => v.name), (decoded.graph.valueInfo ?? []).map((v) => v.name), `${label}: value_info`);
  const opset = decoded.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  assert.equal(index.opset, opset?.version, `${label}: opset`);
  assert.deepEqual([...index.initializers.keys()], decoded.graph.initializer.map((t) => t.name), `${label}: initializer names`);
  for (const t of decoded.graph.initializer) {
    const mine = index.initializers.get(t.name)!;
    assert.deepEqual(mine.dims, t.dims, `${t.name}: dims`);
    assert.equal(mine.dataType, t.dataType, `${t.name}: data type`);
    if (mine.data.kind === 'raw') assert.ok(bytes.subarray(mine.data.offset, mine.data.offset + mine.data.length).equals(t.rawData!), `${t.name}: raw data`);
    else if (mine.data.kind === 'float_data') assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(bytes.subarray(mine.data.offset, mine.data.offset + mine.data.length)).buffer)), t.floatData, `${t.name}: float_data`);
    else assert.equal(t.dataLocation, 1, `${t.name}: external`);
  }
  return { decoded, index };
}

describe('protobuf walker against protobufjs', () => {
  it('reads what protobufjs writes: varints to 2^53, fixed32/64 skipped, packed and unpacked repeats, UTF-8, nesting', () => {
    const inner = protobuf.Writer.create().uint32((1 << 3) | 2).string('héllo ✓').uint32((2 << 3) | 0).uint64(2 ** 53 - 1).finish();
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 0).uint64(0);
    w.uint32((2 << 3) | 1).fixed64(123456789);
    w.uint32((3 << 3) | 5).fixed32(0xdeadbeef);
    w.uint32((4 << 3) | 2).bytes(inner);
    w.uint32((5 << 3) | 2).fork().int64(3).int64(224).int64(2 ** 40).ldelim();
    w.uint32((5 << 3) | 0).int64(7);
    w.uint32((536870911 << 3) | 0).uint32(300); // the largest field number
    const msg = Buffer.from(w.finish());
    const src = new BufferSource(msg);
    const top = [...fields(src, 0, msg.length)];
    assert.deepEqual(top.map((f) => [f.field, f.wireType]), [[1, WireType.Varint], [2, WireType.Fixed64], [3, WireType.Fixed32], [4, WireType.LengthDelimited], [5, WireType.LengthDelimited], [5, WireType.Varint], [536870911, WireType.Varint]]);
    assert.equal(top[0].varint, 0);
    assert.equal(top[1].end - top[1].start, 1 + 8);
    assert.equal(top[2].end - top[2].start, 1 + 4);
    assert.deepEqual(readVarints(src, top[4]), [3, 224, 2 ** 40]);
    assert.deepEqual(readVarints(src, top[5]), [7]);
    assert.equal(top[6].varint, 300);
    const nested = [...fields(src, top[3].dataStart, top[3].dataStart + top[3].dataLength)];
    assert.equal(readString(src, nested[0]), 'héllo ✓');
    assert.equal(nested[1].varint, 2 ** 53 - 1);
    for (const v of [0, 1, 127, 128, 16383, 16384, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
      const b = Buffer.from(protobuf.Writer.create().uint64(v).finish());
      assert.deepEqual(readVarint(new BufferSource(b), 0), { value: v, next: b.length }, String(v));
    }
  });

  it('writes what protobufjs reads', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 35 + 7, 2 ** 53 - 1]) {
      const r = protobuf.Reader.create(encodeVarint(v));
      const long = r.uint64() as unknown as { toNumber?: () => number } | number;
      assert.equal(typeof long === 'number' ? long : long.toNumber!(), v);
    }
    const msg = Buffer.concat([encodeStringField(2, 'graph ✓'), encodeBytesField(11, encodeStringField(1, 'pixel_values')), encodeVarintField(99, 5)]);
    const g = onnx.lookupType('GraphProto').toObject(onnx.lookupType('GraphProto').decode(msg)) as { name: string; input: Array<{ name: string }> };
    assert.equal(g.name, 'graph ✓');
    assert.deepEqual(g.input, [{ name: 'pixel_values' }]);
  });
});

describe('ONNX index against protobufjs', () => {
  for (const model of ['tiny-clip', 'tiny-clip-opset17', 'planted-clip']) {
    it(`${model}: the index of the file torch wrote matches protobufjs's decoding`, () => {
      compareIndex(path.join(fixtureModel(model), 'onnx', 'vision_model.onnx'));
    });
  }
  it('fp16 export: the same', () => {
    compareIndex(path.join(fixtureModel('tiny-clip'), 'onnx', 'vision_model_fp16.onnx'));
  });

  it('the pruned graph we write is a valid model: every node input is produced, outputs are block L, weights are external', async () => {
    for (const linkWeights of [true, false]) {
      const g = await prepareVisionGraph({ sourcePath: path.join(fixtureModel('tiny-clip'), 'onnx', 'vision_model.onnx'), cacheDir: tempDir(), modelName: 'tiny', linkWeights });
      const { decoded } = compareIndex(g.modelPath);
      assert.deepEqual(decoded.graph.output.map((o) => o.name), [g.outputs.attention, g.outputs.values, g.outputs.blockOutput]);
      const available = new Set<string>(['', ...decoded.graph.input.map((i) => i.name), ...decoded.graph.initializer.map((t) => t.name)]);
      for (const n of decoded.graph.node) {
        for (const i of n.input ?? []) assert.ok(available.has(i), `${n.name} reads ${i}, which nothing produces before it`);
        for (const o of n.output ?? []) available.add(o);
      }
      for (const o of decoded.graph.output) assert.ok(available.has(o.name), o.name);
      const external = decoded.graph.initializer.filter((t) => t.dataLocation === 1);
      if (linkWeights) {
        assert.ok(external.length > 0, 'linked weights are external data');
        for (const t of external) {
          const entry = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
          const file = path.join(path.dirname(g.modelPath), entry.location);
          assert.ok(fs.existsSync(file), entry.location);
          const size = fs.statSync(file).size;
          assert.ok(Number(entry.offset ?? 0) + Number(entry.length) <= size, `${t.name}: ${entry.offset}+${entry.length} within ${size}`);
        }
      } else {
        assert.equal(external.length, 0, 'copied weights are inline');
      }
    }
  });

  it('a FileSource walk (bounded windows) sees the same fields as a whole-buffer walk', () => {
    const file = path.join(fixtureModel('planted-clip'), 'onnx', 'vision_model.onnx');
    const fd = fs.openSync(file, 'r');
    try {
      const fromFile = indexOnnx(new FileSource(fd, 4096));
      const fromBuffer = indexOnnx(new BufferSource(fs.readFileSync(file)));
      assert.deepEqual(fromFile.nodes, fromBuffer.nodes);
      assert.deepEqual([...fromFile.initializers.values()], [...fromBuffer.initializers.values()]);
    } finally {
      fs.closeSync(fd);
    }
  });
});
