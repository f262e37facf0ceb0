/**
 * Reads the float weight W ([in, out] = [K, N]) of a linear layer from whatever form an ONNX
 * export holds it in, dequantizing where needed:
 *
 *   MatMul(A, W)                       W float32 / float16 initializer
 *   MatMul(A, DequantizeLinear(Wq))    QDQ: W = (Wq − zp) · scale, per tensor or per column
 *   MatMulInteger(Aq, Wq, azp, wzp)    onnxruntime's dynamic 8-bit scheme (Transformers.js q8,
 *     → Cast → Mul(a_scale · w_scale)  int8, uint8): W = (Wq − wzp) · w_scale, the scale found on
 *                                      the Mul after the Cast (per tensor or per column)
 *   MatMulNBits(A, B, scales, zp?)     block-wise 2/4/8-bit (q4, q4f16): B is [N, K/bs, bs·bits/8],
 *                                      codes packed low bits first, zero point 2^(bits−1) if absent
 *   MatMulBnb4(A, B, absmax)           bitsandbytes NF4/FP4 (bnb4): Wᵀ flattened in blocks,
 *                                      two codes per byte, the first in the high nibble
 *
 * Layouts are those of the ONNX and onnxruntime contrib operator specifications; the fixture
 * generator writes them and a test checks onnxruntime's results against these readings.
 */
import { AttentionPromptError } from '../errors';
import { ByteSource } from './protobuf';
import { OnnxInitializer, OnnxNode, readByteInitializer, readFloatInitializer, readIntegerInitializer } from './onnxFile';

/** The ops that compute a linear layer's product; the ones this module cannot read get a clear error. */
export const LINEAR_OPS = new Set(['MatMul', 'MatMulInteger', 'MatMulNBits', 'MatMulBnb4', 'QLinearMatMul', 'Gemm', 'FusedMatMul', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat']);

/** bitsandbytes' 4-bit code books (quant_type 1 = NF4, 0 = FP4), as onnxruntime's MatMulBnb4 uses them. */
const NF4 = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];

export interface GraphView {
  initializerOf(tensor: string): OnnxInitializer | undefined;
  producerOf(tensor: string): OnnxNode | undefined;
  consumersOf(tensor: string): OnnxNode[];
}

export interface LinearWeight {
  /** [K, N]: in, out. */
  dims: [number, number];
  /** The form, for messages: "float32 MatMul", "MatMulInteger int8", "MatMulNBits 4-bit", … */
  form: string;
  read(src: ByteSource): Float32Array;
}

export class UnreadableWeightError extends Error {}

const count = (init: OnnxInitializer) => init.dims.reduce((a, b) => a * b, 1);

/** Per-tensor (1 value) or per-column (N values) parameters, as a function of the column. */
function perColumn(values: ArrayLike<number>, n: number, what: string): (col: number) => number {
  if (values.length === 1) return () => values[0];
  if (values.length === n) return (col) => values[col];
  throw new UnreadableWeightError(`${what} has ${values.length} values; expected 1 (per tensor) or ${n} (per output column)`);
}

function readZeroPoints(src: ByteSource, init: OnnxInitializer | undefined): ArrayLike<number> {
  return init ? readIntegerInitializer(src, init) : [0];
}

/** W from an 8-bit [K, N] tensor, its zero points and scales (each per tensor or per column). */
function dequantize8(q: Int32Array, k: number, n: number, zp: ArrayLike<number>, scale: ArrayLike<number>): Float32Array {
  const zpOf = perColumn(zp, n, 'the weight zero point');
  const scaleOf = perColumn(scale, n, 'the weight scale');
  const out = new Float32Array(k * n);
  for (let col = 0; col < n; col++) {
    const z = zpOf(col);
    const s = scaleOf(col);
    for (let row = 0; row < k; row++) out[row * n + col] = (q[row * n + col] - z) * s;
  }
  return out;
}

function floatInitializer(g: GraphView, tensor: string): OnnxInitializer | undefined {
  const init = g.initializerOf(tensor);
  return init && (init.dataType === 1 || init.dataType === 10) ? init : undefined;
}

/** The weight scale of a MatMulInteger: on the Mul after its Cast, directly or through the Mul of the two scales. */
function integerMatMulScale(g: GraphView, node: OnnxNode, n: number): OnnxInitializer {
  let tensor = node.outputs[0];
  for (let hops = 0; hops < 3; hops++) {
    const next = g.consumersOf(tensor);
    if (next.length !== 1) break;
    const c = next[0];
    if (c.opType === 'Cast') {
      tensor = c.outputs[0];
      continue;
    }
    if (c.opType !== 'Mul') break;
    const other = c.inputs.find((i) => i !== tensor);
    if (!other) break;
    const direct = floatInitializer(g, other);
    if (direct && (count(direct) === 1 || count(direct) === n)) return direct;
    const scalesMul = g.producerOf(other);
    if (scalesMul?.opType === 'Mul') {
      // Mul(activation scale from DynamicQuantizeLinear, weight scale initializer).
      const candidates = scalesMul.inputs.map((i) => floatInitializer(g, i)).filter((x): x is OnnxInitializer => !!x && (count(x) === 1 || count(x) === n));
      if (candidates.length === 1) return candidates[0];
    }
    break;
  }
  throw new UnreadableWeightError('no weight scale found on the Mul after its Cast (expected Mul(Cast(MatMulInteger), Mul(activation scale, weight scale)))');
}

function matMulInteger(g: GraphView, node: OnnxNode): LinearWeight {
  const q = g.initializerOf(node.inputs[1] ?? '');
  if (!q || q.dims.length !== 2 || (q.dataType !== 2 && q.dataType !== 3)) {
    throw new UnreadableWeightError('its weight input is not a 2-D int8/uint8 initializer');
  }
  const [k, n] = q.dims;
  const zp = node.inputs[3] ? g.initializerOf(node.inputs[3]) : undefined;
  if (node.inputs[3] && !zp) throw new UnreadableWeightError('its weight zero point is not an initializer');
  const scale = integerMatMulScale(g, node, n);
  return {
    dims: [k, n],
    form: `MatMulInteger ${q.dataType === 3 ? 'int8' : 'uint8'}`,
    read: (src) => dequantize8(readIntegerInitializer(src, q), k, n, readZeroPoints(src, zp), readFloatInitializer(src, scale)),
  };
}

function dequantizeLinearWeight(g: GraphView, dq: OnnxNode): LinearWeight {
  const q = g.initializerOf(dq.inputs[0]);
  const scale = floatInitializer(g, dq.inputs[1] ?? '');
  const zp = dq.inputs[2] ? g.initializerOf(dq.inputs[2]) : undefined;
  if (!q || q.dims.length !== 2 || (q.dataType !== 2 && q.dataType !== 3) || !scale || (dq.inputs[2] && !zp)) {
    throw new UnreadableWeightError('its DequantizeLinear weight is not an int8/uint8 initializer with initializer scale and zero point');
  }
  const [k, n] = q.dims;
  if (count(scale) !== 1 && (dq.attributes?.axis ?? 1) !== 1) throw new UnreadableWeightError('per-row weight scales are not supported');
  return {
    dims: [k, n],
    form: `DequantizeLinear ${q.dataType === 3 ? 'int8' : 'uint8'} → MatMul`,
    read: (src) => dequantize8(readIntegerInitializer(src, q), k, n, readZeroPoints(src, zp), readFloatInitializer(src, scale)),
  };
}

function matMulNBits(g: GraphView, node: OnnxNode): LinearWeight {
  const { K: k, N: n, bits = 4, block_size: block } = node.attributes ?? {};
  if (!k || !n || !block) throw new UnreadableWeightError('it lacks the K, N or block_size attribute');
  if (bits !== 2 && bits !== 4 && bits !== 8) throw new UnreadableWeightError(`${bits}-bit codes are not supported (2, 4 and 8 are)`);
  if (node.inputs[4]) throw new UnreadableWeightError('it has a g_idx input (act-order), which is not supported');
  const b = g.initializerOf(node.inputs[1] ?? '');
  const scales = floatInitializer(g, node.inputs[2] ?? '');
  const zp = node.inputs[3] ? g.initializerOf(node.inputs[3]) : undefined;
  const blocks = Math.ceil(k / block);
  const blob = (block * bits) / 8;
  if (!b || b.dataType !== 2 || count(b) !== n * blocks * blob) throw new UnreadableWeightError(`its packed weight is not a uint8 initializer of ${n}×${blocks}×${blob} bytes`);
  if (!scales || count(scales) !== n * blocks) throw new UnreadableWeightError(`its scales are not an initializer of ${n * blocks} values`);
  if (node.inputs[3] && !zp) throw new UnreadableWeightError('its zero points are not an initializer');
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  return {
    dims: [k, n],
    form: `MatMulNBits ${bits}-bit, block ${block}`,
    read: (src) => {
      const packed = readByteInitializer(src, b);
      const s = readFloatInitializer(src, scales);
      // Zero points: uint8 codes packed like the weights (one row of ⌈blocks·bits/8⌉ bytes per column), or floats.
      let zeroOf: (col: number, blk: number) => number = () => 2 ** (bits - 1);
      if (zp && zp.dataType === 2) {
        const z = readByteInitializer(src, zp);
        const rowBytes = Math.ceil((blocks * bits) / 8);
        if (z.length !== n * rowBytes) throw new UnreadableWeightError(`its zero points have ${z.length} bytes; expected ${n * rowBytes}`);
        zeroOf = (col, blk) => (z[col * rowBytes + Math.floor(blk / perByte)] >> ((blk % perByte) * bits)) & mask;
      } else if (zp) {
        const z = readFloatInitializer(src, zp);
        if (z.length !== n * blocks) throw new UnreadableWeightError(`its zero points have ${z.length} values; expected ${n * blocks}`);
        zeroOf = (col, blk) => z[col * blocks + blk];
      }
      const out = new Float32Array(k * n);
      for (let col = 0; col < n; col++) {
        for (let blk = 0; blk < blocks; blk++) {
          const scale = s[col * blocks + blk];
          const zero = zeroOf(col, blk);
          const base = (col * blocks + blk) * blob;
          for (let j = 0; j < block; j++) {
            const row = blk * block + j;
            if (row >= k) break;
            const code = (packed[base + Math.floor(j / perByte)] >> ((j % perByte) * bits)) & mask;
            out[row * n + col] = (code - zero) * scale;
          }
        }
      }
      return out;
    },
  };
}

function matMulBnb4(g: GraphView, node: OnnxNode): LinearWeight {
  const { K: k, N: n, block_size: block, quant_type: quantType } = node.attributes ?? {};
  if (!k || !n || !block) throw new UnreadableWeightError('it lacks the K, N or block_size attribute');
  if (quantType !== 1) throw new UnreadableWeightError(`quant_type ${quantType} (FP4) is not supported; NF4 (1) is`);
  const b = g.initializerOf(node.inputs[1] ?? '');
  const absmax = floatInitializer(g, node.inputs[2] ?? '');
  const total = k * n;
  if (!b || b.dataType !== 2 || count(b) !== Math.ceil(total / 2)) throw new UnreadableWeightError(`its packed weight is not a uint8 initializer of ${Math.ceil(total / 2)} bytes`);
  if (!absmax || count(absmax) !== Math.ceil(total / block)) throw new UnreadableWeightError(`its absmax is not an initializer of ${Math.ceil(total / block)} values`);
  return {
    dims: [k, n],
    form: `MatMulBnb4 NF4, block ${block}`,
    read: (src) => {
      const packed = readByteInitializer(src, b);
      const scale = readFloatInitializer(src, absmax);
      const out = new Float32Array(total);
      // Element i of Wᵀ (row-major [N, K]) is W[i % K][⌊i / K⌋].
      for (let i = 0; i < total; i++) {
        const code = i % 2 === 0 ? packed[i >> 1] >> 4 : packed[i >> 1] & 0x0f;
        const col = Math.floor(i / k);
        const row = i - col * k;
        out[row * n + col] = NF4[code] * scale[Math.floor(i / block)];
      }
      return out;
    },
  };
}

/**
 * How to read the weight of `node` (one of LINEAR_OPS). Throws UnreadableWeightError, with the
 * reason, for a form this module cannot read.
 */
export function linearWeight(g: GraphView, node: OnnxNode): LinearWeight {
  switch (node.opType) {
    case 'MatMul': {
      const input = node.inputs[1] ?? '';
      const w = floatInitializer(g, input);
      if (w && w.dims.length === 2) return { dims: [w.dims[0], w.dims[1]], form: `${w.dataType === 10 ? 'float16' : 'float32'} MatMul`, read: (src) => readFloatInitializer(src, w) };
      const p = g.producerOf(input);
      if (p?.opType === 'DequantizeLinear') return dequantizeLinearWeight(g, p);
      throw new UnreadableWeightError(`its weight is neither a 2-D float initializer nor a DequantizeLinear of one${p ? ` (it comes from a ${p.opType})` : ''}`);
    }
    case 'MatMulInteger':
      return matMulInteger(g, node);
    case 'MatMulNBits':
      return matMulNBits(g, node);
    case 'MatMulBnb4':
      return matMulBnb4(g, node);
    default:
      throw new UnreadableWeightError('this operator is not supported (MatMul with float, float16 or DequantizeLinear weights, MatMulInteger, MatMulNBits and MatMulBnb4 are)');
  }
}

/** The user-facing error for an unreadable weight: names the file, the layer, the node and the operator. */
export function unreadableWeightError(file: string, what: string, node: OnnxNode, e: unknown): AttentionPromptError {
  const reason = e instanceof Error ? e.message : String(e);
  return new AttentionPromptError(
    'model-structure',
    `${file}: cannot read the ${what} from its ${node.opType} node "${node.name}": ${reason}. ` + 'Use another dtype of this model (for example --dtype fp32).',
  );
}
