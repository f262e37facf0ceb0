/**
 * The one place that loads Transformers.js (ESM, which loads sharp and onnxruntime-node at
 * import time): lazily and once.
 */
export type TransformersModule = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });

let loading: Promise<TransformersModule> | undefined;

export function loadTransformers(): Promise<TransformersModule> {
  loading ??= import('@huggingface/transformers') as Promise<TransformersModule>;
  return loading;
}
