/**
 * Prepares a Transformers.js CLIP vision export for the attention prompt: exposes the tensors of
 * block L as graph outputs, drops everything after block L, and reads the few weights the closed
 * form needs. The result is cached on disk, keyed by the source file's identity and L, so the
 * second start only opens a file.
 *
 * Node names follow torch.onnx's module paths of Hugging Face's CLIP (see the fixture generator):
 *   /vision_model/encoder/layers.{L}/self_attn/Softmax        attention probabilities
 *   /vision_model/encoder/layers.{L}/self_attn/v_proj/Add     values, bias included, [B,T,D]
 *   /vision_model/encoder/layers.{L}/self_attn/out_proj/...   W_O ([in,out]) and b_O
 *   /vision_model/encoder/layers.{L}/Add_1                    residual stream after block L
 *   vision_model.post_layernorm.weight                        gamma of ln_post
 *   /visual_projection/MatMul                                 P ([D,E])
 * In reduced-precision files (q8, int8, uint8, q4, q4f16, bnb4) the projections are
 * MatMulInteger / MatMulNBits / MatMulBnb4 nodes in the same scopes, and the tensors exposed keep
 * their names; W_O and P are dequantized to float32 (see linearWeights.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempPathFor, writeAtomic, writeFileAtomicSync } from '../atomicWrite';
import { AttentionPromptError } from '../errors';
import { LINEAR_OPS, LinearWeight, UnreadableWeightError, linearWeight, unreadableWeightError } from './linearWeights';
import { OnnxDataType, OnnxIndex, OnnxInitializer, OnnxNode, indexOnnx, readFloatInitializer } from './onnxFile';
import { ByteSource, FileSource, encodeBytesField, encodeStringField, encodeTag, encodeVarint, encodeVarintField, WireType } from './protobuf';

/** Bump when the prepared file's content or the meta format changes. */
const PREPARED_FORMAT = 4;

export interface BlockTensorNames {
  attention: string;
  values: string;
  blockOutput: string;
  /** out_proj output (before the residual add): only exposed for diagnostics and tests. */
  attentionOutput?: string;
}

export interface VisionWeights {
  hidden: number;
  projection: number;
  /** W_O in [in, out] layout, hidden × hidden. */
  outProj: Float32Array;
  /** b_O, length hidden (zeros if the export has none). */
  outProjBias: Float32Array;
  /** gamma of post_layernorm, length hidden. */
  postLayerNormWeight: Float32Array;
  /** P in [in, out] layout, hidden × projection. */
  visualProjection: Float32Array;
}

export interface PreparedVisionGraph {
  /** Path of the pruned ONNX file to open with onnxruntime. */
  modelPath: string;
  /** The source `vision_model*.onnx` it was made from. */
  sourcePath: string;
  layer: number;
  numLayers: number;
  outputs: BlockTensorNames;
  weights: VisionWeights;
  /** True when this call found the prepared graph in the cache. */
  fromCache: boolean;
}

export interface PrepareOptions {
  /** The source `vision_model*.onnx`. */
  sourcePath: string;
  /** Block index; negative counts from the end (-2 is the reference default, layers − 2). */
  layer?: number;
  cacheDir: string;
  /** A name for error messages (hub id or folder). */
  modelName: string;
  /** Also expose out_proj's output (tests use it to check the decomposition). */
  exposeAttentionOutput?: boolean;
  /** Reference the source's weights instead of copying them (default true; falls back to copying). */
  linkWeights?: boolean;
  /** Store uint8 MatMulInteger weights as int8 (see `signedWeightsFaster`; default: whether it is here). */
  signedWeights?: boolean;
}

interface PreparedMeta {
  format: number;
  sourceKey: string;
  layer: number;
  numLayers: number;
  outputs: BlockTensorNames;
  hidden: number;
  projection: number;
}

function structureError(modelName: string, what: string): AttentionPromptError {
  return new AttentionPromptError(
    'model-structure',
    `The vision model of "${modelName}" does not have the structure of a Transformers.js CLIP export: ${what}. ` +
      'Use a CLIP model exported from Hugging Face (for example Xenova/clip-vit-base-patch16).',
  );
}

/** Counts `layers.{i}` in the vision encoder's node names. */
export function countLayers(nodes: OnnxNode[]): number {
  let max = -1;
  const re = /^\/vision_model\/encoder\/layers\.(\d+)\//;
  for (const n of nodes) {
    const m = re.exec(n.name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

class GraphLookup {
  private readonly producer = new Map<string, OnnxNode>();
  private readonly consumers = new Map<string, OnnxNode[]>();
  constructor(readonly index: OnnxIndex, readonly modelName: string) {
    for (const n of index.nodes) for (const o of n.outputs) this.producer.set(o, n);
    for (const n of index.nodes) for (const i of n.inputs) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
  }

  consumersOf(tensor: string): OnnxNode[] {
    return this.consumers.get(tensor) ?? [];
  }

  inScope(prefix: string): OnnxNode[] {
    return this.index.nodes.filter((n) => n.name.startsWith(prefix));
  }

  /** Follows Identity nodes (torch's deduplicated weights) back to an initializer. */
  initializerOf(tensor: string): OnnxInitializer | undefined {
    let name = tensor;
    for (let hops = 0; hops < 8; hops++) {
      const init = this.index.initializers.get(name);
      if (init) return init;
      const p = this.producer.get(name);
      if (!p || p.opType !== 'Identity') return undefined;
      name = p.inputs[0];
    }
    return undefined;
  }

  /** The single initializer input of a node (a Linear's weight or bias). */
  weightOf(node: OnnxNode, rank: number): OnnxInitializer | undefined {
    for (const input of node.inputs) {
      const init = this.initializerOf(input);
      if (init && init.dims.length === rank) return init;
    }
    return undefined;
  }

  one(prefix: string, opType: string, what: string): OnnxNode {
    const found = this.inScope(prefix).filter((n) => n.opType === opType);
    if (found.length !== 1) {
      throw structureError(this.modelName, `expected one ${opType} node under ${prefix} (${what}), found ${found.length}`);
    }
    return found[0];
  }

  producerOf(tensor: string): OnnxNode | undefined {
    return this.producer.get(tensor);
  }

  /** The one linear-layer node (MatMul or a quantized form of it) under `prefix`. */
  linear(prefix: string, what: string): OnnxNode {
    const found = this.inScope(prefix).filter((n) => LINEAR_OPS.has(n.opType));
    if (found.length !== 1) {
      throw structureError(this.modelName, `expected one MatMul (or quantized MatMul) node under ${prefix} (${what}), found ${found.length}`);
    }
    return found[0];
  }
}

/** A linear layer's weight, located; read with `weight.read`. */
export interface LocatedWeight {
  node: OnnxNode;
  weight: LinearWeight;
}

export interface BlockLocation {
  layer: number;
  numLayers: number;
  outputs: BlockTensorNames;
  outProj: LocatedWeight;
  outProjBias?: OnnxInitializer;
  postLayerNormWeight: OnnxInitializer;
  visualProjection: LocatedWeight;
  /** The file, for messages. */
  file: string;
}

/**
 * Finds block L's tensors and the weights the closed form needs; validates their shapes.
 * `file` names the source in errors (an unreadable quantization names the file and operator).
 */
export function locateBlock(index: OnnxIndex, requestedLayer: number, modelName: string, file = modelName): BlockLocation {
  const g = new GraphLookup(index, modelName);
  const numLayers = countLayers(index.nodes);
  if (numLayers === 0) throw structureError(modelName, 'no /vision_model/encoder/layers.{i}/ nodes');
  const layer = requestedLayer < 0 ? numLayers + requestedLayer : requestedLayer;
  if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) {
    throw new AttentionPromptError(
      'bad-parameter',
      `Layer ${requestedLayer} is out of range: "${modelName}" has ${numLayers} layers (0–${numLayers - 1}; the default is ${numLayers - 2}).`,
    );
  }
  const block = `/vision_model/encoder/layers.${layer}/`;
  const attnScope = `${block}self_attn/`;

  // Attention probabilities: the Softmax in the layer's attention, found by op type because
  // the Reshape/Transpose numbering around it differs between exporter versions.
  const softmax = g.one(attnScope, 'Softmax', 'attention probabilities');

  // Values with their bias: the last Add of v_proj (MatMul → Add), or the MatMul if there is no bias.
  const vNodes = g.inScope(`${attnScope}v_proj/`);
  const vAdd = vNodes.filter((n) => n.opType === 'Add');
  const vMatMul = vNodes.filter((n) => n.opType === 'MatMul');
  const valuesNode = vAdd.length ? vAdd[vAdd.length - 1] : vMatMul[vMatMul.length - 1];
  if (!valuesNode) throw structureError(modelName, `no v_proj MatMul/Add under ${attnScope}v_proj/`);

  const locate = (node: OnnxNode, what: string): LocatedWeight => {
    try {
      return { node, weight: linearWeight(g, node) };
    } catch (e) {
      if (e instanceof UnreadableWeightError) throw unreadableWeightError(file, what, node, e);
      throw e;
    }
  };
  const outMatMul = g.linear(`${attnScope}out_proj/`, 'attention output projection');
  const outProj = locate(outMatMul, `attention output projection of layer ${layer}`);
  const outAdds = g.inScope(`${attnScope}out_proj/`).filter((n) => n.opType === 'Add');
  const outAdd = outAdds[outAdds.length - 1];
  const outProjBias = outAdd ? g.weightOf(outAdd, 1) : undefined;

  const blockOutputNode = index.nodes.find((n) => n.name === `${block}Add_1` && n.opType === 'Add');
  if (!blockOutputNode) throw structureError(modelName, `no residual output node ${block}Add_1`);

  let gamma = index.initializers.get('vision_model.post_layernorm.weight');
  if (!gamma) {
    const ln = g.inScope('/vision_model/post_layernorm/');
    const fused = ln.find((n) => n.opType === 'LayerNormalization');
    if (fused) gamma = g.initializerOf(fused.inputs[1]);
    else for (const n of ln.filter((x) => x.opType === 'Mul')) gamma ??= g.weightOf(n, 1);
  }
  if (!gamma) throw structureError(modelName, 'no post_layernorm weight (vision_model.post_layernorm.weight)');

  const projNode = g.linear('/visual_projection/', 'visual projection');
  const visualProjection = locate(projNode, 'visual projection');

  const hidden = outProj.weight.dims[0];
  const checks: Array<[boolean, string]> = [
    [outProj.weight.dims[1] === hidden, `out_proj weight is ${outProj.weight.dims.join('×')}, expected square`],
    [gamma.dims[0] === hidden, `post_layernorm weight has ${gamma.dims[0]} entries, expected ${hidden}`],
    [visualProjection.weight.dims[0] === hidden, `visual projection is ${visualProjection.weight.dims.join('×')}, expected ${hidden}×E ([in, out])`],
    [!outProjBias || outProjBias.dims[0] === hidden, `out_proj bias has ${outProjBias?.dims[0]} entries, expected ${hidden}`],
  ];
  for (const [ok, what] of checks) if (!ok) throw structureError(modelName, what);

  return {
    layer,
    numLayers,
    outputs: {
      attention: softmax.outputs[0],
      values: valuesNode.outputs[0],
      blockOutput: blockOutputNode.outputs[0],
      attentionOutput: outAdd?.outputs[0] ?? outMatMul.outputs[0],
    },
    outProj,
    outProjBias,
    postLayerNormWeight: gamma,
    visualProjection,
    file,
  };
}

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
async function writePrunedGraph(src: ByteSource, sourcePath: string, index: OnnxIndex, outputs: string[], target: string, weightsFile?: string, signedWeights = false): Promise<void> {
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
 * replaces the original file. Returns undefined across file systems (the weights are then copied).
 */
async function linkSource(sourcePath: string, dir: string): Promise<string | undefined> {
  const name = 'source_weights.onnx';
  const link = path.join(dir, name);
  // Linked under a unique name and renamed over the old link, so a process preparing the same
  // graph at the same time never finds the name missing (removing first left a gap).
  const tmp = tempPathFor(link);
  try {
    await fs.promises.link(path.resolve(sourcePath), tmp);
    await fs.promises.rename(tmp, link);
    return name;
  } catch {
    return undefined;
  } finally {
    // rename() leaves both names when they already were links to the same file.
    await fs.promises.rm(tmp, { force: true });
  }
}

function sourceKey(sourcePath: string): string {
  const st = fs.statSync(sourcePath);
  return `${path.resolve(sourcePath)}|${st.size}|${Math.round(st.mtimeMs)}`;
}

/** Reads (and dequantizes, for reduced-precision files) the weights the closed form needs, as float32. */
export function readWeights(src: ByteSource, loc: BlockLocation): VisionWeights {
  const hidden = loc.outProj.weight.dims[0];
  const read = (w: LocatedWeight, what: string) => {
    try {
      return w.weight.read(src);
    } catch (e) {
      if (e instanceof UnreadableWeightError) throw unreadableWeightError(loc.file, what, w.node, e);
      throw e;
    }
  };
  return {
    hidden,
    projection: loc.visualProjection.weight.dims[1],
    outProj: read(loc.outProj, `attention output projection of layer ${loc.layer}`),
    outProjBias: loc.outProjBias ? readFloatInitializer(src, loc.outProjBias) : new Float32Array(hidden),
    postLayerNormWeight: readFloatInitializer(src, loc.postLayerNormWeight),
    visualProjection: read(loc.visualProjection, 'visual projection'),
  };
}

function packWeights(w: VisionWeights): Buffer {
  const parts = [w.outProj, w.outProjBias, w.postLayerNormWeight, w.visualProjection];
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

function unpackWeights(buf: Buffer, hidden: number, projection: number): VisionWeights {
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  let at = 0;
  const take = (n: number) => all.subarray(at, (at += n));
  const w = {
    hidden,
    projection,
    outProj: take(hidden * hidden),
    outProjBias: take(hidden),
    postLayerNormWeight: take(hidden),
    visualProjection: take(hidden * projection),
  };
  if (at !== all.length) throw new Error('prepared weights file has the wrong size');
  return w;
}

/** Prepares (or finds in the cache) the pruned vision graph for block L. */
export async function prepareVisionGraph(opts: PrepareOptions): Promise<PreparedVisionGraph> {
  if (!fs.existsSync(opts.sourcePath)) {
    throw new AttentionPromptError('model-missing', `The vision model file is missing: ${opts.sourcePath}`);
  }
  const key = sourceKey(opts.sourcePath);
  const requested = opts.layer ?? -2;
  const signedWeights = opts.signedWeights ?? signedWeightsFaster();
  const id = crypto
    .createHash('sha256')
    .update(`${PREPARED_FORMAT}|${key}|${requested}|${opts.exposeAttentionOutput ? 'diag' : ''}|${opts.linkWeights === false ? 'copy' : 'link'}|${signedWeights ? 's8' : ''}`)
    .digest('hex')
    .slice(0, 20);
  const dir = path.join(opts.cacheDir, 'prepared-graphs', id);
  const metaPath = path.join(dir, 'meta.json');
  const modelPath = path.join(dir, 'vision_block.onnx');
  const weightsPath = path.join(dir, 'weights.bin');

  try {
    const meta = JSON.parse(await fs.promises.readFile(metaPath, 'utf8')) as PreparedMeta;
    if (meta.format === PREPARED_FORMAT && meta.sourceKey === key && fs.existsSync(modelPath)) {
      const weights = unpackWeights(await fs.promises.readFile(weightsPath), meta.hidden, meta.projection);
      return { modelPath, sourcePath: opts.sourcePath, layer: meta.layer, numLayers: meta.numLayers, outputs: meta.outputs, weights, fromCache: true };
    }
  } catch {
    // Not prepared yet (or a partial earlier attempt): prepare below.
  }

  const fd = fs.openSync(opts.sourcePath, 'r');
  let loc: BlockLocation;
  let weights: VisionWeights;
  let outputs: BlockTensorNames;
  try {
    const src = new FileSource(fd);
    let index: OnnxIndex;
    try {
      index = indexOnnx(src);
    } catch (e) {
      throw new AttentionPromptError('model-structure', `"${opts.sourcePath}" is not a readable ONNX model: ${(e as Error).message}`);
    }
    loc = locateBlock(index, requested, opts.modelName, opts.sourcePath);
    weights = readWeights(src, loc);
    outputs = { ...loc.outputs };
    if (!opts.exposeAttentionOutput) delete outputs.attentionOutput;
    await fs.promises.mkdir(dir, { recursive: true });
    const weightsFile = opts.linkWeights === false ? undefined : await linkSource(opts.sourcePath, dir);
    await writePrunedGraph(src, opts.sourcePath, index, Object.values(outputs) as string[], modelPath, weightsFile, signedWeights);
  } finally {
    fs.closeSync(fd);
  }
  // Atomic like the graph: a process that prepared the same graph a moment earlier may be reading them.
  writeFileAtomicSync(weightsPath, packWeights(weights));
  const meta: PreparedMeta = {
    format: PREPARED_FORMAT,
    sourceKey: key,
    layer: loc.layer,
    numLayers: loc.numLayers,
    outputs,
    hidden: weights.hidden,
    projection: weights.projection,
  };
  // meta.json last: its presence marks a complete preparation.
  writeFileAtomicSync(metaPath, JSON.stringify(meta, null, 2));
  return { modelPath, sourcePath: opts.sourcePath, layer: loc.layer, numLayers: loc.numLayers, outputs, weights, fromCache: false };
}

/**
 * The whole graph of a model file with its weights as external data pointing into a hard link of
 * the file (for the text tower). onnxruntime then maps the weights from the file instead of
 * reading the protobuf into memory and copying every tensor out of it, which briefly held the
 * weights twice. Cached like the vision graph; undefined when the cache sits on another file
 * system than the model (no hard link: the caller opens the original file).
 */
export async function prepareLinkedGraph(sourcePath: string, cacheDir: string): Promise<string | undefined> {
  const key = sourceKey(sourcePath);
  const id = crypto.createHash('sha256').update(`${PREPARED_FORMAT}|linked|${key}`).digest('hex').slice(0, 20);
  const dir = path.join(cacheDir, 'prepared-graphs', id);
  const modelPath = path.join(dir, path.basename(sourcePath));
  const donePath = path.join(dir, 'meta.json');
  try {
    const meta = JSON.parse(await fs.promises.readFile(donePath, 'utf8')) as { format: number; sourceKey: string };
    if (meta.format === PREPARED_FORMAT && meta.sourceKey === key && fs.existsSync(modelPath)) return modelPath;
  } catch {
    // Not prepared yet: below.
  }
  await fs.promises.mkdir(dir, { recursive: true });
  const weightsFile = await linkSource(sourcePath, dir);
  if (!weightsFile) return undefined;
  const fd = fs.openSync(sourcePath, 'r');
  try {
    const src = new FileSource(fd);
    const index = indexOnnx(src);
    await writePrunedGraph(src, sourcePath, index, index.outputs.map((o) => o.name), modelPath, weightsFile);
  } finally {
    fs.closeSync(fd);
  }
  // meta.json last: its presence marks a complete preparation.
  writeFileAtomicSync(donePath, JSON.stringify({ format: PREPARED_FORMAT, sourceKey: key }));
  return modelPath;
}
