/**
 * Graph surgery on a Transformers.js `decoder_model_merged.onnx` for the LVLM map: layer L's
 * attention scores before the softmax (after the causal mask) become one more graph output. The
 * rest of the graph, its inputs and outputs stay as they are, so Transformers.js runs the prepared
 * file exactly as it runs the original (it reads the outputs it knows by name).
 *
 * The tensor is the input of `.../layers.{L}/self_attn/.../Softmax`: the reference's
 * `after_attn_mask` hook point (API_LLaVA/LLaVA/llava/transformers/models/llama/modeling_llama.py:
 * 331 scores = QKᵀ/√d, 345 + attention_mask, 348-349 hook), shape [B, heads, q, past + q].
 *
 * How: protobuf merges repeated occurrences of a singular message field, so appending
 * `ModelProto.graph { output { name } }` (fields 7, 12) to a copy of the file adds the output
 * without decoding or re-encoding anything. External-data files next to the source are hard-linked
 * into the prepared folder (copied across file systems) so their relative locations still resolve.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAtomic } from '../atomicWrite';
import { AttentionPromptError } from '../errors';
import { SYSTEM_LINK_OPS, warnNoLink } from '../hardLink';
import { OnnxNode, indexOnnx } from '../onnx/onnxFile';
import { FileSource, encodeBytesField, encodeStringField } from '../onnx/protobuf';

/** Bump when the prepared file's layout changes. */
const PREPARED_FORMAT = 1;

export interface DecoderAttentionLayers {
  numLayers: number;
  /** Per layer index: the tensor entering its self-attention softmax. */
  scores: Map<number, string>;
}

/** Fused attention operators hide the scores: the map cannot be read from such an export. */
const FUSED_ATTENTION = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention', 'PackedMultiHeadAttention']);
const LAYER_SOFTMAX = /layers\.(\d+)\/(?:[\w.]+\/)*self_attn\/(?:[\w.]+\/)*Softmax(?:_\d+)?$/;

export function findAttentionScores(nodes: OnnxNode[], modelName: string): DecoderAttentionLayers {
  const scores = new Map<number, string>();
  let numLayers = 0;
  for (const n of nodes) {
    const layer = /layers\.(\d+)\//.exec(n.name);
    if (layer) numLayers = Math.max(numLayers, Number(layer[1]) + 1);
    if (FUSED_ATTENTION.has(n.opType)) {
      throw new AttentionPromptError(
        'model-structure',
        `The decoder of "${modelName}" uses the fused ${n.opType} operator, which never materialises the attention scores; the LVLM map needs an export with eager attention (MatMul → Add mask → Softmax).`,
      );
    }
    if (n.opType === 'If' || n.opType === 'Loop') {
      throw new AttentionPromptError(
        'model-structure',
        `The decoder of "${modelName}" is an older merged export (its layers sit inside an ${n.opType} branch on use_cache_branch); the LVLM map needs a single-graph decoder_model_merged.onnx.`,
      );
    }
    const m = n.opType === 'Softmax' ? LAYER_SOFTMAX.exec(n.name) : null;
    if (m && n.inputs[0]) {
      const l = Number(m[1]);
      if (scores.has(l)) {
        throw new AttentionPromptError('model-structure', `The decoder of "${modelName}" has more than one softmax in layer ${l}'s self-attention; cannot tell which holds the attention.`);
      }
      scores.set(l, n.inputs[0]);
    }
  }
  if (scores.size === 0 || numLayers === 0) {
    throw new AttentionPromptError(
      'model-structure',
      `The decoder of "${modelName}" has no "layers.N/self_attn/…/Softmax" nodes: not a Transformers.js LLaVA-style export with eager attention.`,
    );
  }
  return { numLayers, scores };
}

/** The reference's default, `--layer_index 20` of LLaVA-1.5's 32 layers (main.py:95), at the same relative depth. */
export function defaultLvlmLayer(numLayers: number): number {
  return Math.floor((numLayers * 20) / 32);
}

/** Resolves a requested layer (negative counts from the end) against the decoder's depth. */
export function resolveLvlmLayer(requested: number | undefined, numLayers: number, modelName: string): number {
  const layer = requested === undefined ? defaultLvlmLayer(numLayers) : requested < 0 ? numLayers + requested : requested;
  if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) {
    throw new AttentionPromptError('bad-parameter', `Layer ${requested} is out of range: the decoder of "${modelName}" has ${numLayers} layers (0…${numLayers - 1}, or −1…−${numLayers}).`);
  }
  return layer;
}

export interface PreparedDecoder {
  modelPath: string;
  layer: number;
  numLayers: number;
  /** Name of the added output: layer L's scores after the mask, [B, heads, q, kv]. */
  scoresOutput: string;
  fromCache: boolean;
}

export interface PrepareDecoderOptions {
  sourcePath: string;
  layer?: number;
  cacheDir: string;
  modelName: string;
}

interface PreparedMeta {
  format: number;
  sourceKey: string;
  layer: number;
  numLayers: number;
  scoresOutput: string;
}

function sourceKey(p: string): string {
  const st = fs.statSync(p);
  return `${path.resolve(p)}|${st.size}|${Math.round(st.mtimeMs)}`;
}

/** Prepares (or finds in the cache) the decoder with layer L's scores as an extra output. */
export async function prepareDecoder(opts: PrepareDecoderOptions): Promise<PreparedDecoder> {
  if (!fs.existsSync(opts.sourcePath)) {
    throw new AttentionPromptError('model-missing', `The decoder file is missing: ${opts.sourcePath}`);
  }
  const key = sourceKey(opts.sourcePath);
  const id = crypto.createHash('sha256').update(`lvlm|${PREPARED_FORMAT}|${key}|${opts.layer ?? 'default'}`).digest('hex').slice(0, 20);
  const dir = path.join(opts.cacheDir, 'prepared-graphs', id);
  const base = path.basename(opts.sourcePath);
  const modelPath = path.join(dir, base);
  const metaPath = path.join(dir, 'meta.json');
  try {
    const meta = JSON.parse(await fs.promises.readFile(metaPath, 'utf8')) as PreparedMeta;
    if (meta.format === PREPARED_FORMAT && meta.sourceKey === key && fs.existsSync(modelPath)) {
      return { modelPath, layer: meta.layer, numLayers: meta.numLayers, scoresOutput: meta.scoresOutput, fromCache: true };
    }
  } catch {
    // not prepared yet
  }

  const fd = fs.openSync(opts.sourcePath, 'r');
  let found: DecoderAttentionLayers;
  try {
    let nodes: OnnxNode[];
    try {
      nodes = indexOnnx(new FileSource(fd)).nodes;
    } catch (e) {
      throw new AttentionPromptError('model-structure', `"${opts.sourcePath}" is not a readable ONNX model: ${(e as Error).message}`);
    }
    found = findAttentionScores(nodes, opts.modelName);
  } finally {
    fs.closeSync(fd);
  }
  const layer = resolveLvlmLayer(opts.layer, found.numLayers, opts.modelName);
  const scoresOutput = found.scores.get(layer);
  if (!scoresOutput) {
    throw new AttentionPromptError('model-structure', `The decoder of "${opts.modelName}" has no self-attention softmax in layer ${layer}.`);
  }

  await fs.promises.mkdir(dir, { recursive: true });
  await writeAtomic(modelPath, async (tmp) => {
    await fs.promises.copyFile(opts.sourcePath, tmp);
    // ModelProto.graph (7) { GraphProto.output (12) { ValueInfoProto.name (1) } }: merged into the graph on load.
    await fs.promises.appendFile(tmp, encodeBytesField(7, encodeBytesField(12, encodeStringField(1, scoresOutput))));
  });
  await linkExternalData(opts.sourcePath, dir);
  const meta: PreparedMeta = { format: PREPARED_FORMAT, sourceKey: key, layer, numLayers: found.numLayers, scoresOutput };
  // meta.json last: its presence marks a complete preparation.
  await fs.promises.writeFile(metaPath, JSON.stringify(meta, null, 2));
  return { modelPath, layer, numLayers: found.numLayers, scoresOutput, fromCache: false };
}

/** `decoder_model_merged.onnx_data`, `…onnx_data_1`, `….onnx.data`: the external weights beside the graph. */
async function linkExternalData(sourcePath: string, dir: string): Promise<void> {
  const srcDir = path.dirname(sourcePath);
  const base = path.basename(sourcePath);
  for (const name of await fs.promises.readdir(srcDir)) {
    if (name === base || !(name.startsWith(base + '_data') || name.startsWith(base + '.data'))) continue;
    const target = path.join(dir, name);
    await fs.promises.rm(target, { force: true });
    try {
      await fs.promises.link(path.join(srcDir, name), target);
    } catch (e) {
      warnNoLink(SYSTEM_LINK_OPS, path.join(srcDir, name), dir, e, 'copying it instead (as large as the weights)');
      await fs.promises.copyFile(path.join(srcDir, name), target);
    }
  }
}
