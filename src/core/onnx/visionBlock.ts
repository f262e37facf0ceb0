/**
 * Graph analysis of a Transformers.js CLIP vision export: finds block L's tensors and the few
 * weights the closed form needs, checks their shapes, and reads those weights as float32.
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
import { AttentionPromptError } from '../errors';
import { LINEAR_OPS, LinearWeight, UnreadableWeightError, linearWeight, unreadableWeightError } from './linearWeights';
import { OnnxIndex, OnnxInitializer, OnnxNode, readFloatInitializer } from './onnxFile';
import { ByteSource } from './protobuf';

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
