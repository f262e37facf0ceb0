import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferSource, encodeBytesField, encodeStringField, encodeVarint, encodeVarintField, fields, readString, readVarint, readVarints } from './protobuf';

describe('protobuf wire format', () => {
  it('round-trips varints, including values above 2^32', () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 35 + 7, 1_234_567_890_123]) {
      const buf = encodeVarint(v);
      assert.deepEqual(readVarint(new BufferSource(buf), 0), { value: v, next: buf.length });
    }
    assert.deepEqual([...encodeVarint(300)], [0xac, 0x02]);
  });

  it('walks nested messages and reports payload ranges', () => {
    const inner = Buffer.concat([encodeStringField(1, 'hello'), encodeVarintField(2, 42)]);
    const msg = Buffer.concat([encodeVarintField(1, 7), encodeBytesField(7, inner), encodeStringField(3, 'x')]);
    const src = new BufferSource(msg);
    const top = [...fields(src, 0, msg.length)];
    assert.deepEqual(top.map((f) => f.field), [1, 7, 3]);
    assert.equal(top[0].varint, 7);
    const nested = [...fields(src, top[1].dataStart, top[1].dataStart + top[1].dataLength)];
    assert.equal(readString(src, nested[0]), 'hello');
    assert.equal(nested[1].varint, 42);
    assert.equal(readString(src, top[2]), 'x');
  });

  it('reads packed repeated varints', () => {
    const packed = encodeBytesField(1, Buffer.concat([encodeVarint(3), encodeVarint(224), encodeVarint(224)]));
    const src = new BufferSource(packed);
    const [f] = [...fields(src, 0, packed.length)];
    assert.deepEqual(readVarints(src, f), [3, 224, 224]);
  });

  it('reads negative int64 varints (ten bytes) exactly, as a Softmax axis of −1 is written', () => {
    // −1, −2 and −2^40 as protobuf writes int64: two's complement in ten 7-bit groups.
    const tenBytes = (v: bigint) => {
      let u = BigInt.asUintN(64, v);
      const out: number[] = [];
      do {
        const b = Number(u & 0x7fn);
        u >>= 7n;
        out.push(u ? b | 0x80 : b);
      } while (u);
      return Buffer.from(out);
    };
    for (const v of [-1n, -2n, -(2n ** 40n)]) {
      const bytes = tenBytes(v);
      assert.equal(bytes.length, 10);
      assert.deepEqual(readVarint(new BufferSource(bytes), 0), { value: Number(v), next: 10 });
    }
    assert.deepEqual(readVarint(new BufferSource(encodeVarint(2 ** 40)), 0).value, 2 ** 40);
  });

  it('rejects a field that overruns its message', () => {
    const bad = Buffer.concat([encodeBytesField(1, Buffer.from('abcdef'))]).subarray(0, 5);
    assert.throws(() => [...fields(new BufferSource(bad), 0, bad.length)], /overruns/);
  });
});
