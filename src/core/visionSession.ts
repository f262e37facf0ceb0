/**
 * The CLIP vision tower's ONNX Runtime session: the vision file (from the model folder, or
 * downloaded into the cache), its pruned block-L graph (onnx/visionGraph.ts), the session's
 * options, and its outputs as float32.
 */
import * as fs from 'node:fs';
import type * as Ort from 'onnxruntime-node';
import { AttentionPromptError } from './errors';
import { modelFilePath } from './modelCache';
import { downloadModelFile } from './modelDownload';
import { towerDtypes, towerFile } from './modelFiles';
import type { ModelLocation } from './modelLocation';
import { halfToFloat } from './onnx/onnxFile';
import { PreparedVisionGraph, prepareVisionGraph } from './onnx/visionGraph';

/** The vision session's option for `spinWait` (nothing: ONNX Runtime's default, spinning). */
export function spinningOption(spinWait: boolean | undefined): Partial<Ort.InferenceSession.SessionOptions> {
  return spinWait === false ? { extra: { session: { 'intra_op.allow_spinning': '0' } } } : {};
}

/** The session for a prepared graph, from its path: onnxruntime maps the weights instead of holding a second copy. */
export async function createVisionSession(graph: PreparedVisionGraph, threads: number, spinWait: boolean | undefined): Promise<Ort.InferenceSession> {
  const ort = await import('onnxruntime-node');
  return ort.InferenceSession.create(graph.modelPath, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', ...spinningOption(spinWait) });
}

export interface VisionLoadOptions {
  layer?: number;
  threads: number;
  exposeAttentionOutput?: boolean;
  spinWait?: boolean;
  onProgress?: Parameters<typeof downloadModelFile>[2];
  signal?: AbortSignal;
}

/**
 * The vision file: from the folder, or from the cache (downloaded straight to disk, in
 * Transformers.js's cache layout, without creating an ONNX Runtime session for it); then its
 * prepared graph and the session. `tick` records each stage's time.
 */
export async function loadVisionSession(loc: ModelLocation, opts: VisionLoadOptions, tick: (stage: string, since: number) => void): Promise<{ graph: PreparedVisionGraph; session: Ort.InferenceSession }> {
  let start = performance.now();
  const visionFile = towerFile('vision', towerDtypes(loc).vision);
  let visionPath = modelFilePath(loc, visionFile);
  if (!fs.existsSync(visionPath)) {
    if (loc.local || loc.offline) throw new AttentionPromptError('model-missing', `Missing ${visionFile} (looked at ${visionPath}).`);
    visionPath = await downloadModelFile(loc, visionFile, opts.onProgress, opts.signal);
    tick('download vision model', start);
    start = performance.now();
  }

  const graph = await prepareVisionGraph({
    sourcePath: visionPath,
    layer: opts.layer,
    cacheDir: loc.cacheDir,
    modelName: loc.name,
    exposeAttentionOutput: opts.exposeAttentionOutput,
  });
  tick(graph.fromCache ? 'open prepared graph' : 'prepare graph', start);

  start = performance.now();
  const session = await createVisionSession(graph, opts.threads, opts.spinWait);
  tick('create vision session', start);
  return { graph, session };
}

/** A session output as float32 (float16 outputs, from fp16 exports, widened). */
export function toFloat32(t: Ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const src = t.data as Uint16Array;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
    return out;
  }
  throw new Error(`unexpected tensor type ${t.type}`);
}
