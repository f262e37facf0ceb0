/** The options `mask` and `batch` share, parsed and validated once. */
import type { ParseArgsConfig } from 'node:util';
import type { BatchOptions } from '../core/batch/runner';
import type { Geometry } from '../core/engine';
import { DEFAULT_MODEL, DownloadProgress, Dtype } from '../core/modelSource';
import { parseInterpolation } from '../core/render';

export class UsageError extends Error {}

export const MASK_OPTIONS = {
  hint: { type: 'string' },
  model: { type: 'string' },
  revision: { type: 'string' },
  dtype: { type: 'string' },
  layer: { type: 'string' },
  contrast: { type: 'string' },
  kernel: { type: 'string' },
  interp: { type: 'string' },
  gray: { type: 'string' },
  geometry: { type: 'string' },
  opacity: { type: 'string' },
  'cache-dir': { type: 'string' },
  threads: { type: 'string' },
  offline: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type MaskValues = { [K in keyof typeof MASK_OPTIONS]?: (typeof MASK_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export function num(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** The engine and mask parameters of a run: the same shape the batch runner takes. */
export type MaskSettings = Pick<BatchOptions, 'engine' | 'geometry' | 'mask' | 'interpolation' | 'gray' | 'opacity'>;

export function maskSettings(values: MaskValues, onProgress?: (p: DownloadProgress) => void): MaskSettings {
  const dtype = (values.dtype ?? 'fp32') as Dtype;
  if (dtype !== 'fp32' && dtype !== 'fp16') throw new UsageError(`--dtype must be fp32 or fp16, got "${values.dtype}"`);
  const geometry = (values.geometry ?? 'full') as Geometry;
  if (geometry !== 'full' && geometry !== 'reference') throw new UsageError(`--geometry must be full or reference, got "${values.geometry}"`);
  const layer = values.layer === undefined ? undefined : num(values.layer, 'layer', -2);
  if (layer !== undefined && !Number.isInteger(layer)) throw new UsageError(`--layer must be an integer, got "${values.layer}"`);
  return {
    engine: {
      model: values.model ?? DEFAULT_MODEL,
      revision: values.revision,
      dtype,
      layer,
      cacheDir: values['cache-dir'],
      offline: values.offline,
      threads: values.threads === undefined ? undefined : num(values.threads, 'threads', 1),
      remoteHost: process.env.HF_ENDPOINT ? process.env.HF_ENDPOINT.replace(/\/?$/, '/') : undefined,
      onProgress,
    },
    geometry,
    mask: { contrast: num(values.contrast, 'contrast', 5), kernel: num(values.kernel, 'kernel', 3) },
    interpolation: parseInterpolation(values.interp ?? 'lanczos3'),
    gray: num(values.gray, 'gray', 0),
    opacity: num(values.opacity, 'opacity', 0.5),
  };
}
