/**
 * Just enough of the protobuf wire format to walk an ONNX file in place.
 *
 * Why not protobufjs: a CLIP L/14 vision export is 1.2 GB; decoding it needs the whole file in
 * memory, and re-encoding takes seconds and doubles that. We only need the node list (small, at
 * the front of the graph) and the byte ranges of everything else, so we read field headers
 * straight from the file and copy the ranges we keep.
 */
import * as fs from 'node:fs';

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

/** One field of a message: where it starts (tag included), where its payload is, and its value for scalars. */
export interface FieldRef {
  field: number;
  wireType: WireType;
  /** Offset of the tag byte(s). */
  start: number;
  /** Offset one past the end of the field. */
  end: number;
  /** Payload offset and length for length-delimited fields. */
  dataStart: number;
  dataLength: number;
  /** Value of a varint field (exact up to 2^53). */
  varint: number;
}

/** Random access to bytes, from a file (bounded window reads) or from memory. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

export class BufferSource implements ByteSource {
  constructor(private readonly buffer: Buffer) {}
  get size(): number {
    return this.buffer.length;
  }
  read(offset: number, length: number): Buffer {
    return this.buffer.subarray(offset, offset + length);
  }
}

/** Reads a file through a sliding window so that walking small fields costs few syscalls. */
export class FileSource implements ByteSource {
  private window = Buffer.alloc(0);
  private windowStart = 0;
  readonly size: number;

  constructor(private readonly fd: number, private readonly windowSize = 1 << 20) {
    this.size = fs.fstatSync(fd).size;
  }

  read(offset: number, length: number): Buffer {
    if (offset < 0 || offset + length > this.size) {
      throw new RangeError(`read past the end of the file (${offset}+${length} > ${this.size})`);
    }
    if (offset >= this.windowStart && offset + length <= this.windowStart + this.window.length) {
      return this.window.subarray(offset - this.windowStart, offset - this.windowStart + length);
    }
    if (length > this.windowSize) {
      const out = Buffer.allocUnsafe(length);
      readFully(this.fd, out, offset);
      return out;
    }
    const size = Math.min(this.windowSize, this.size - offset);
    const window = Buffer.allocUnsafe(size);
    readFully(this.fd, window, offset);
    this.window = window;
    this.windowStart = offset;
    return window.subarray(0, length);
  }
}

function readFully(fd: number, into: Buffer, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new Error('unexpected end of file');
    done += n;
  }
}

export function readVarint(src: ByteSource, offset: number): { value: number; next: number } {
  const bytes = src.read(offset, Math.min(10, src.size - offset));
  let value = 0;
  let scale = 1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) {
      // Past 2^53 a double drops low bits: read it again exactly, as int64 (−1 is ten bytes of 0xff…0x01).
      if (value > Number.MAX_SAFE_INTEGER) {
        let big = 0n;
        for (let j = i; j >= 0; j--) big = (big << 7n) | BigInt(bytes[j] & 0x7f);
        value = Number(BigInt.asIntN(64, big));
      }
      return { value, next: offset + i + 1 };
    }
  }
  throw new Error(`malformed varint at byte ${offset}`);
}

/** Iterates the fields of the message occupying [start, end). */
export function* fields(src: ByteSource, start: number, end: number): Generator<FieldRef> {
  let pos = start;
  while (pos < end) {
    const tag = readVarint(src, pos);
    const field = Math.floor(tag.value / 8);
    const wireType = (tag.value & 7) as WireType;
    let next = tag.next;
    let dataStart = next;
    let dataLength = 0;
    let varint = 0;
    switch (wireType) {
      case WireType.Varint: {
        const v = readVarint(src, next);
        varint = v.value;
        next = v.next;
        break;
      }
      case WireType.Fixed64:
        next += 8;
        break;
      case WireType.Fixed32:
        next += 4;
        break;
      case WireType.LengthDelimited: {
        const len = readVarint(src, next);
        dataStart = len.next;
        dataLength = len.value;
        next = len.next + len.value;
        break;
      }
      default:
        throw new Error(`unsupported protobuf wire type ${wireType} at byte ${pos}`);
    }
    if (next > end) throw new Error(`protobuf field overruns its message at byte ${pos}`);
    yield { field, wireType, start: pos, end: next, dataStart, dataLength, varint };
    pos = next;
  }
}

export function readString(src: ByteSource, f: FieldRef): string {
  return src.read(f.dataStart, f.dataLength).toString('utf8');
}

/** Reads packed or unpacked repeated varints (int64 dims, for example). */
export function readVarints(src: ByteSource, f: FieldRef): number[] {
  if (f.wireType === WireType.Varint) return [f.varint];
  const out: number[] = [];
  let pos = f.dataStart;
  const end = f.dataStart + f.dataLength;
  while (pos < end) {
    const v = readVarint(src, pos);
    out.push(v.value);
    pos = v.next;
  }
  return out;
}

// ---- writing ---------------------------------------------------------------------------------

export function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

export function encodeTag(field: number, wireType: WireType): Buffer {
  return encodeVarint(field * 8 + wireType);
}

export function encodeBytesField(field: number, payload: Buffer): Buffer {
  return Buffer.concat([encodeTag(field, WireType.LengthDelimited), encodeVarint(payload.length), payload]);
}

export function encodeStringField(field: number, value: string): Buffer {
  return encodeBytesField(field, Buffer.from(value, 'utf8'));
}

export function encodeVarintField(field: number, value: number): Buffer {
  return Buffer.concat([encodeTag(field, WireType.Varint), encodeVarint(value)]);
}
