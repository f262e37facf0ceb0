/**
 * Writing a pruned copy of an ONNX model: the original ModelProto with a graph that keeps only the
 * nodes, initializers and inputs some outputs need, its weights copied byte for byte or referenced
 * as external data in a hard link of the source (and uint8 MatMulInteger weights optionally stored
 * as int8). Nothing is ever decoded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempPathFor, writeAtomic } from '../atomicWrite';
import { LinkOps, SYSTEM_LINK_OPS, warnNoLink } from '../hardLink';
import { OnnxDataType, OnnxIndex, OnnxInitializer, OnnxNode } from './onnxFile';
import { ByteSource, encodeBytesField, encodeStringField, encodeTag, encodeVarint, encodeVarintField, WireType } from './protobuf';

/** Nodes needed to compute `targets`, in the file's (topological) order. */
export function requiredNodes(index: OnnxIndex, targets: string[]): Set<OnnxNode> {
  const producer = new Map<string, OnnxNode>();
  for (const n of index.nodes) for (const o of n.outputs) producer.set(o, n);
  const keep = new Set<OnnxNode>();
  const stack = [...targets];
  while (stack.length) {
    const t = stack.pop()!;
    const n = producer.get(t);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    for (const i of n.inputs) if (i) stack.push(i);
  }
  return keep;
}

async function copyRange(src: fs.promises.FileHandle, dst: fs.promises.FileHandle, start: number, end: number, buf: Buffer): Promise<void> {
  let pos = start;
  while (pos < end) {
    const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, end - pos), pos);
    if (bytesRead === 0) throw new Error('unexpected end of the model file while copying');
    await dst.write(buf, 0, bytesRead);
    pos += bytesRead;
  }
}

/**
 * A kept initializer as an external-data TensorProto that points at its raw bytes inside the
 * original file, or at `at` in another file (TensorProto: dims 1, data_type 2, name 8,
 * external_data 13, data_location 14).
 */
function externalInitializer(init: OnnxInitializer, location: string, at?: { offset: number; dataType: number }): Buffer | undefined {
  if (init.data.kind !== 'raw') return undefined;
  const entry = (key: string, value: string) => encodeBytesField(13, Buffer.concat([encodeStringField(1, key), encodeStringField(2, value)]));
  const dims = init.dims.length ? encodeBytesField(1, Buffer.concat(init.dims.map((d) => encodeVarint(d)))) : Buffer.alloc(0);
  const tensor = Buffer.concat([
    dims,
    encodeVarintField(2, at?.dataType ?? init.dataType),
    encodeStringField(8, init.name),
    entry('location', location),
    entry('offset', String(at?.offset ?? init.data.offset)),
    entry('length', String(init.data.length)),
    encodeVarintField(14, 1),
  ]);
  return encodeBytesField(5, tensor);
}

/**
 * Whether onnxruntime's integer matrix product is faster with int8 weights than with uint8 ones,
 * and exact with them: x86-64 with VNNI, whose instruction multiplies unsigned activations by
 * signed weights with 32-bit sums. Without VNNI the u8×s8 kernel adds pairs of products in 16 bits
 * with saturation (why onnxruntime's quantizer writes uint8 weights for models with a convolution,
 * as the hub's vision files have), so the weights stay as they are.
 */
export function signedWeightsFaster(): boolean {
  if (process.arch !== 'x64' || process.platform !== 'linux') return false;
  try {
    return /\b(avx512_vnni|avx_vnni|amx_int8)\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

const SIGNED_WEIGHTS_FILE = 'signed_weights.bin';

/**
 * The uint8 weights and weight zero points of the kept MatMulInteger nodes, to be stored as int8.
 * q − z is unchanged when both move by −128 (w ↦ w − 128 is w XOR 0x80 in two's complement), so
 * the integer products are the same numbers: nothing is approximated. Only initializers that no
 * other node reads, with a zero point given (an absent uint8 zero point is 0, which int8 cannot
 * say without a new input).
 */
function unsignedMatMulWeights(index: OnnxIndex, keepNodes: Set<OnnxNode>): OnnxInitializer[] {
  const readers = new Map<string, number>();
  for (const n of keepNodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const found = new Map<string, OnnxInitializer>();
  const uses = new Map<string, number>();
  for (const n of keepNodes) {
    if (n.opType !== 'MatMulInteger' || n.domain !== '' || !n.inputs[3]) continue;
    const w = index.initializers.get(n.inputs[1]);
    const z = index.initializers.get(n.inputs[3]);
    if (!w || !z || w.dataType !== OnnxDataType.Uint8 || z.dataType !== OnnxDataType.Uint8 || w.data.kind !== 'raw' || z.data.kind !== 'raw') continue;
    for (const t of [w, z]) {
      found.set(t.name, t);
      uses.set(t.name, (uses.get(t.name) ?? 0) + 1);
    }
  }
  return [...found.values()].filter((t) => uses.get(t.name) === readers.get(t.name));
}

/** Writes the int8 copies of `inits` to `file`, each at a page-aligned offset; returns the offsets. */
async function writeSignedCopies(src: ByteSource, inits: OnnxInitializer[], file: string): Promise<Map<string, number>> {
  const offsets = new Map<string, number>();
  await writeAtomic(file, async (tmp) => {
    const out = await fs.promises.open(tmp, 'wx');
    try {
      let at = 0;
      for (const init of inits) {
        if (init.data.kind !== 'raw') continue;
        at = Math.ceil(at / 4096) * 4096;
        offsets.set(init.name, at);
        for (let done = 0; done < init.data.length; done += 32 << 20) {
          const n = Math.min(32 << 20, init.data.length - done);
          const bytes = Buffer.from(src.read(init.data.offset + done, n));
          for (let i = 0; i < bytes.length; i++) bytes[i] ^= 0x80;
          await out.write(bytes, 0, n, at + done);
        }
        at += init.data.length;
      }
    } finally {
      await out.close();
    }
  });
  return offsets;
}

/**
 * Writes the pruned graph: the original ModelProto with a new `graph` field that keeps only
 * the nodes, initializers and inputs block L's outputs need, and declares those outputs (names
 * only; onnxruntime infers their types). With `weightsFile` (a link to the source next to the
 * target), kept weights become external data pointing into the source, so nothing large is
 * copied; without it, they are copied byte for byte. Nothing is ever decoded.
 */
export async function writePrunedGraph(src: ByteSource, sourcePath: string, index: OnnxIndex, outputs: string[], target: string, weightsFile?: string, signedWeights = false): Promise<void> {
  const keepNodes = requiredNodes(index, outputs);
  const usedTensors = new Set<string>();
  for (const n of keepNodes) for (const i of n.inputs) usedTensors.add(i);
  const signed = signedWeights ? unsignedMatMulWeights(index, keepNodes) : [];
  const signedAt = signed.length ? await writeSignedCopies(src, signed, path.join(path.dirname(target), SIGNED_WEIGHTS_FILE)) : new Map<string, number>();
  const parts: Array<[number, number] | Buffer> = [];
  for (const n of index.nodes) if (keepNodes.has(n)) parts.push(n.range);
  parts.push(...index.otherGraphFields);
  for (const init of index.initializers.values()) {
    if (!usedTensors.has(init.name)) continue;
    const offset = signedAt.get(init.name);
    if (offset !== undefined) parts.push(externalInitializer(init, SIGNED_WEIGHTS_FILE, { offset, dataType: OnnxDataType.Int8 })!);
    else parts.push((weightsFile && externalInitializer(init, weightsFile)) || init.range);
  }
  for (const input of index.inputs) {
    if (!index.initializers.has(input.name) || usedTensors.has(input.name)) parts.push(input.range);
  }
  const produced = new Set<string>();
  for (const n of keepNodes) for (const o of n.outputs) produced.add(o);
  for (const vi of index.valueInfo) if (produced.has(vi.name)) parts.push(vi.range);
  // ValueInfoProto { name } for each new output (GraphProto.output is field 12).
  parts.push(Buffer.concat(outputs.map((name) => encodeBytesField(12, encodeStringField(1, name)))));

  const graphLength = parts.reduce((sum, p) => sum + (Buffer.isBuffer(p) ? p.length : p[1] - p[0]), 0);
  const graphHeader = Buffer.concat([encodeTag(7, WireType.LengthDelimited), encodeVarint(graphLength)]);
  // Kept fields are mostly adjacent in the file (nodes, then initializers): merge neighbours so
  // a copy is a few large reads instead of thousands of small ones.
  const merged: Array<[number, number] | Buffer> = [];
  for (const p of parts) {
    const last = merged[merged.length - 1];
    if (!Buffer.isBuffer(p) && last && !Buffer.isBuffer(last) && last[1] === p[0]) last[1] = p[1];
    else merged.push(Buffer.isBuffer(p) ? p : [p[0], p[1]]);
  }
  await writeAtomic(target, async (tmp) => {
    const src = await fs.promises.open(sourcePath, 'r');
    const dst = await fs.promises.open(tmp, 'wx');
    const buf = Buffer.allocUnsafe(32 << 20);
    try {
      await copyRange(src, dst, 0, index.graphField.start, buf);
      await dst.write(graphHeader);
      for (const p of merged) {
        if (Buffer.isBuffer(p)) await dst.write(p);
        else await copyRange(src, dst, p[0], p[1], buf);
      }
      const size = (await src.stat()).size;
      await copyRange(src, dst, index.graphField.end, size, buf);
    } finally {
      await dst.close();
      await src.close();
    }
  });
}

/**
 * Hard-links the source model into the prepared folder so external data can name it by a plain
 * file name: onnxruntime resolves locations against the model's folder and refuses paths (and
 * symbolic links) that lead outside it. A hard link costs nothing and stays valid if the cache
 * replaces the original file. Returns undefined, with a log line saying `instead`, where no link
 * can be made (another volume, FAT/exFAT, a network share): the caller then never fails, it copies.
 */
export async function linkSource(sourcePath: string, dir: string, instead: string, ops: LinkOps = SYSTEM_LINK_OPS): Promise<string | undefined> {
  const name = 'source_weights.onnx';
  const link = path.join(dir, name);
  // Linked under a unique name and renamed over the old link, so a process preparing the same
  // graph at the same time never finds the name missing (removing first left a gap).
  const tmp = tempPathFor(link);
  try {
    await ops.link(path.resolve(sourcePath), tmp);
    await ops.rename(tmp, link);
    return name;
  } catch (e) {
    warnNoLink(ops, sourcePath, dir, e, instead);
    return undefined;
  } finally {
    // rename() leaves both names when they already were links to the same file.
    await fs.promises.rm(tmp, { force: true });
  }
}
