/**
 * Prepares a Transformers.js CLIP vision export for the attention prompt: exposes the tensors of
 * block L as graph outputs, drops everything after block L, and reads the few weights the closed
 * form needs. The result is cached on disk, keyed by the source file's identity and L, so the
 * second start only opens a file. This module is the cache; the analysis is visionBlock.ts and
 * the writing prunedGraph.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from '../atomicWrite';
import type { LinkOps } from '../hardLink';
import { AttentionPromptError } from '../errors';
import { OnnxIndex, indexOnnx } from './onnxFile';
import { FileSource } from './protobuf';
import { linkSource, signedWeightsFaster, writePrunedGraph } from './prunedGraph';
import { BlockLocation, BlockTensorNames, VisionWeights, locateBlock, readWeights } from './visionBlock';

/** Bump when the prepared file's content or the meta format changes. */
const PREPARED_FORMAT = 4;

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
  /** The file system's linking (tests pass one that refuses, as FAT or another volume does). */
  linkOps?: LinkOps;
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

function sourceKey(sourcePath: string): string {
  const st = fs.statSync(sourcePath);
  return `${path.resolve(sourcePath)}|${st.size}|${Math.round(st.mtimeMs)}`;
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
    const weightsFile = opts.linkWeights === false ? undefined : await linkSource(opts.sourcePath, dir, 'the prepared graph holds a copy of the weights instead', opts.linkOps);
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
export async function prepareLinkedGraph(sourcePath: string, cacheDir: string, linkOps?: LinkOps): Promise<string | undefined> {
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
  const weightsFile = await linkSource(sourcePath, dir, 'the model file is opened as it is (its weights are read into memory)', linkOps);
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
