/**
 * The two raw attribution scores of the reference, in closed form.
 *
 * The reference (yu-rp/apiprompting, API/API_CLIP/hook.py and main.py) decomposes the class
 * token's output of block L's attention into per-source-token contributions
 *     c_m = Σ_h A[h,0,m] · v_h[m] W_O,h  +  b_O / T                        (hook.py:23-28)
 * where v includes the v_proj bias, W_O,h are head h's rows of out_proj ([in, out] layout) and
 * T is the token count. It then pushes each c_m through ln_post "linearly" with the final class
 * token's statistics μ, σ (K = 2L + 1 intermediate terms) and projects:
 *     ĉ_m = P ᵀ (γ ⊙ (c_m − μ/(K·T)) / σ + β/(K·T)) / ‖r‖                (hook.py:61-72, 82)
 * and scores it against the normalised text embedding t:  Ψ_cls[m] = ⟨ĉ_m, t⟩   (main.py:102-103).
 * For the patch tokens' residual stream x_L[m] after block L it does the same (hook.py:48-59):
 *     Ψ_tok[m] = ⟨Pᵀ (γ ⊙ (x_L[m] − μ/K) / σ + β/K), t⟩ / ‖r‖              (main.py:109)
 *
 * Derivation of the closed form. With w = γ ⊙ (P t) (a vector in the residual space):
 *     Ψ_cls[m] = (1/(σ‖r‖)) ⟨c_m, w⟩ + const,   Ψ_tok[m] = (1/(σ‖r‖)) ⟨x_L[m], w⟩ + const,
 * because ⟨Pᵀ(γ ⊙ u), t⟩ = ⟨u, γ ⊙ (P t)⟩ and every μ, β and b_O term is the same for all m.
 * And ⟨c_m, w⟩ = Σ_h A[h,0,m] ⟨v_h[m], (W_O w)_h⟩ + const. Both maps are min–max normalised
 * next (main.py:115, 118), and minmax(αx + β) = minmax(x) for α > 0 (σ, ‖r‖ > 0), so
 *     Ψ_cls[m] = Σ_h A[h,0,m] ⟨v_h[m], (W_O w)_h⟩,   Ψ_tok[m] = ⟨x_L[m], w⟩
 * give exactly the reference's maps after normalisation, without the reference's [T, T, D]
 * tensor: O(T·D) work after one matrix-vector product W_O w.
 */
import type { VisionWeights } from './onnx/visionBlock';

export type AttentionLayout = 'BH,T,T' | 'B,H,T,T';

/** The block-L tensors for one image (batch element 0). */
export interface BlockTensors {
  /** Attention probabilities, either [B·H, T, T] or [B, H, T, T]. */
  attention: Float32Array;
  attentionDims: readonly number[];
  /** Values with bias, [B, T, D]. */
  values: Float32Array;
  valuesDims: readonly number[];
  /** Residual stream after block L, [B, T, D]. */
  blockOutput: Float32Array;
  blockOutputDims: readonly number[];
}

export interface RawScores {
  /** Ψcls over the patch tokens (T − 1 values, grid order). */
  psiCls: Float64Array;
  /** Ψtok over the patch tokens. */
  psiTok: Float64Array;
  heads: number;
  tokens: number;
  layout: AttentionLayout;
}

/** Reads the head count and layout from the attention tensor's rank and checks every shape. */
export function attentionGeometry(t: BlockTensors, hidden: number): { heads: number; tokens: number; layout: AttentionLayout } {
  const [b, tokens, d] = t.valuesDims;
  const fail = (what: string) => {
    throw new Error(`unexpected block tensor shapes: ${what}`);
  };
  if (t.valuesDims.length !== 3 || d !== hidden) fail(`values are [${t.valuesDims}], expected [B, T, ${hidden}]`);
  if (t.blockOutputDims.join() !== t.valuesDims.join()) fail(`block output is [${t.blockOutputDims}], values [${t.valuesDims}]`);
  let heads: number;
  let layout: AttentionLayout;
  if (t.attentionDims.length === 3) {
    layout = 'BH,T,T';
    heads = t.attentionDims[0] / b;
    if (t.attentionDims[1] !== tokens || t.attentionDims[2] !== tokens) fail(`attention is [${t.attentionDims}], expected [B·H, ${tokens}, ${tokens}]`);
  } else if (t.attentionDims.length === 4) {
    layout = 'B,H,T,T';
    heads = t.attentionDims[1];
    if (t.attentionDims[0] !== b || t.attentionDims[2] !== tokens || t.attentionDims[3] !== tokens) {
      fail(`attention is [${t.attentionDims}], expected [${b}, H, ${tokens}, ${tokens}]`);
    }
  } else {
    return fail(`attention has rank ${t.attentionDims.length}`);
  }
  if (!Number.isInteger(heads) || heads < 1 || hidden % heads !== 0) fail(`${hidden} hidden dims do not split into ${heads} heads`);
  return { heads, tokens, layout };
}

/**
 * A[h, 0, m] for batch element 0: the class token's attention to source m, in head h.
 * Both layouts place element (b, h, q, k) at ((b·H + h)·T + q)·T + k, so the index is the same.
 */
export function clsAttentionRow(attention: Float32Array, heads: number, tokens: number, h: number): Float32Array {
  const start = h * tokens * tokens; // b = 0, q = 0
  return attention.subarray(start, start + tokens);
}

/** w = γ ⊙ (P t): the text direction pulled back through the projection and ln_post's scale. */
export function textDirection(weights: VisionWeights, textEmbedding: Float32Array): Float64Array {
  const { hidden, projection, visualProjection: P, postLayerNormWeight: gamma } = weights;
  if (textEmbedding.length !== projection) {
    throw new Error(`text embedding has ${textEmbedding.length} dims, the vision projection ${projection}`);
  }
  const w = new Float64Array(hidden);
  for (let d = 0; d < hidden; d++) {
    let s = 0;
    const row = d * projection;
    for (let e = 0; e < projection; e++) s += P[row + e] * textEmbedding[e];
    w[d] = gamma[d] * s;
  }
  return w;
}

/** u = W_O w, with W_O in [in, out] layout: u[i] = Σ_o W_O[i, o] w[o]. */
export function pullBackThroughOutProj(weights: VisionWeights, w: Float64Array): Float64Array {
  const { hidden, outProj } = weights;
  const u = new Float64Array(hidden);
  for (let i = 0; i < hidden; i++) {
    let s = 0;
    const row = i * hidden;
    for (let o = 0; o < hidden; o++) s += outProj[row + o] * w[o];
    u[i] = s;
  }
  return u;
}

/** Ψcls and Ψtok for the patch tokens (m = 1 … T−1), in closed form. */
export function rawScores(t: BlockTensors, weights: VisionWeights, textEmbedding: Float32Array): RawScores {
  const { hidden } = weights;
  const { heads, tokens, layout } = attentionGeometry(t, hidden);
  const headDim = hidden / heads;
  const w = textDirection(weights, textEmbedding);
  const u = pullBackThroughOutProj(weights, w);
  const patches = tokens - 1;
  const psiCls = new Float64Array(patches);
  const psiTok = new Float64Array(patches);
  const rows = Array.from({ length: heads }, (_, h) => clsAttentionRow(t.attention, heads, tokens, h));
  for (let m = 1; m < tokens; m++) {
    const base = m * hidden; // batch element 0
    // Ψcls[m] = Σ_h A[h,0,m] ⟨v_h[m], u_h⟩
    let cls = 0;
    for (let h = 0; h < heads; h++) {
      let dot = 0;
      const off = base + h * headDim;
      for (let i = 0; i < headDim; i++) dot += t.values[off + i] * u[h * headDim + i];
      cls += rows[h][m] * dot;
    }
    // Ψtok[m] = ⟨x_L[m], w⟩
    let tok = 0;
    for (let d = 0; d < hidden; d++) tok += t.blockOutput[base + d] * w[d];
    psiCls[m - 1] = cls;
    psiTok[m - 1] = tok;
  }
  return { psiCls, psiTok, heads, tokens, layout };
}

/**
 * The direct decomposition, for tests: c_m = Σ_h A[h,0,m] · v_h[m] W_O,h for every source token
 * m (class token included), a [T, D] array. Σ_m c_m + b_O is the attention output at the class token.
 */
export function classTokenContributions(t: BlockTensors, weights: VisionWeights): Float64Array[] {
  const { hidden, outProj } = weights;
  const { heads, tokens } = attentionGeometry(t, hidden);
  const headDim = hidden / heads;
  const out: Float64Array[] = [];
  for (let m = 0; m < tokens; m++) {
    const c = new Float64Array(hidden);
    for (let h = 0; h < heads; h++) {
      const a = clsAttentionRow(t.attention, heads, tokens, h)[m];
      for (let i = h * headDim; i < (h + 1) * headDim; i++) {
        const v = a * t.values[m * hidden + i];
        const row = i * hidden;
        for (let o = 0; o < hidden; o++) c[o] += v * outProj[row + o];
      }
    }
    out.push(c);
  }
  return out;
}
