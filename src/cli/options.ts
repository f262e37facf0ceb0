/** The options `mask` and `batch` share, parsed and validated once. */
import type { ParseArgsConfig } from 'node:util';
import type { BatchOptions } from '../core/batch/runner';
import { DEFAULT_DTYPE, DEFAULT_GEOMETRY, DEFAULT_MODEL, DTYPES, GEOMETRIES, MASK_DEFAULTS } from '../core/defaults';
import type { DownloadProgress } from '../core/modelSource';
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
  const dtype = DTYPES.find((d) => d === (values.dtype ?? DEFAULT_DTYPE));
  if (!dtype) throw new UsageError(`--dtype must be ${DTYPES.join(' or ')}, got "${values.dtype}"`);
  const geometry = GEOMETRIES.find((g) => g === (values.geometry ?? DEFAULT_GEOMETRY));
  if (!geometry) throw new UsageError(`--geometry must be ${GEOMETRIES.join(' or ')}, got "${values.geometry}"`);
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
    mask: { contrast: num(values.contrast, 'contrast', MASK_DEFAULTS.contrast), kernel: num(values.kernel, 'kernel', MASK_DEFAULTS.kernel) },
    interpolation: parseInterpolation(values.interp ?? MASK_DEFAULTS.interpolation),
    gray: num(values.gray, 'gray', MASK_DEFAULTS.gray),
    opacity: num(values.opacity, 'opacity', MASK_DEFAULTS.opacity),
  };
}
