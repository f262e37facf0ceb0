/** The options `mask` and `batch` share, parsed and validated once. */
import * as fs from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { BatchOptions } from '../core/batch/batchOptions';
import { DEFAULT_DTYPE, DEFAULT_GEOMETRY, DEFAULT_MODEL, DTYPES, GEOMETRIES, Interpolation, MASK_DEFAULTS, NumberBounds, OPACITY, THREADS, type Dtype } from '../core/defaults';
import { type MaskSettingName, maskSettingProblem } from '../core/maskParameters';
import { isDtype } from '../core/modelFiles';
import { type DownloadProgress, checkRevision } from '../core/modelLocation';
import { parseInterpolation } from '../core/render';

export class UsageError extends Error {}

export const MASK_OPTIONS = {
  hint: { type: 'string' },
  model: { type: 'string' },
  revision: { type: 'string' },
  dtype: { type: 'string' },
  'vision-dtype': { type: 'string' },
  'text-dtype': { type: 'string' },
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
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** A number within [min, max] (an integer when `integer`), or a usage error naming the range. */
export function bounded(value: string | undefined, name: string, fallback: number, range: { min: number; max: number; integer?: boolean; minExclusive?: boolean }): number {
  if (value === undefined) return fallback;
  const n = num(value, name, fallback);
  const kind = range.integer ? 'an integer' : 'a number';
  const low = range.minExclusive ? n <= range.min : n < range.min;
  if ((range.integer && !Number.isInteger(n)) || low || n > range.max) {
    const from = range.minExclusive ? `above ${range.min}` : `from ${range.min}`;
    throw new UsageError(`--${name} must be ${kind} ${from} to ${range.max}, got "${value}"`);
  }
  return n;
}

/**
 * parseArgs reads `--layer -1` as a missing value followed by an option; a dash-number after an
 * option that takes a value is that value, so negative layers work with or without "=".
 */
export function joinNegativeValues(argv: string[], options: Record<string, { type: string }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && i + 1 < argv.length && /^-\d/.test(argv[i + 1])) {
      out.push(`${a}=${argv[++i]}`);
    } else out.push(a);
  }
  return out;
}

/** The engine and mask parameters of a run: the same shape the batch runner takes. */
export type MaskSettings = Pick<BatchOptions, 'engine' | 'geometry' | 'mask' | 'interpolation' | 'gray' | 'opacity'>;

/** A value within one of core/defaults.ts's bounds (the settings' and the engine's), or a usage error. */
export function within(value: string | undefined, name: string, b: NumberBounds): number {
  return bounded(value, name, b.default, { min: b.min, max: b.max ?? Number.MAX_SAFE_INTEGER, integer: b.integer });
}

/** A mask parameter from the command line, refused with the message every caller uses (maskParameters.ts). */
function maskOption<T>(option: string, name: MaskSettingName, value: T): T {
  const problem = maskSettingProblem(name, value);
  if (problem) throw new UsageError(`--${option}: ${problem}`);
  return value;
}

export function maskSettings(values: MaskValues, onProgress?: (p: DownloadProgress) => void): MaskSettings {
  const dtypeOption = (name: 'dtype' | 'vision-dtype' | 'text-dtype'): Dtype | undefined => {
    const v = values[name];
    if (v !== undefined && !isDtype(v)) throw new UsageError(`--${name} must be one of ${DTYPES.join(', ')}, got "${v}"`);
    return v;
  };
  const dtype = dtypeOption('dtype') ?? DEFAULT_DTYPE;
  const geometry = GEOMETRIES.find((g) => g === (values.geometry ?? DEFAULT_GEOMETRY));
  if (!geometry) throw new UsageError(`--geometry must be ${GEOMETRIES.join(' or ')}, got "${values.geometry}"`);
  if (values.layer !== undefined && !/^\s*-?\d+\s*$/.test(values.layer)) throw new UsageError(`--layer must be an integer (negative counts from the end), got "${values.layer}"`);
  const layer = values.layer === undefined ? undefined : Number(values.layer);
  if (values.model !== undefined && !values.model.trim()) throw new UsageError('--model is empty');
  if (values.revision !== undefined) {
    try {
      checkRevision(values.revision);
    } catch (e) {
      throw new UsageError(`--revision: ${(e as Error).message}`);
    }
  }
  const cacheDir = values['cache-dir'];
  if (cacheDir !== undefined) {
    if (!cacheDir.trim()) throw new UsageError('--cache-dir is empty');
    if (fs.existsSync(cacheDir) && !fs.statSync(cacheDir).isDirectory()) throw new UsageError(`--cache-dir ${cacheDir} is a file, not a folder`);
  }
  let interpolation: Interpolation;
  try {
    interpolation = parseInterpolation(values.interp ?? MASK_DEFAULTS.interpolation);
  } catch (e) {
    throw new UsageError(`--interp: ${(e as Error).message}`);
  }
  const kernel = maskOption('kernel', 'kernel', num(values.kernel, 'kernel', MASK_DEFAULTS.kernel));
  return {
    engine: {
      model: values.model ?? DEFAULT_MODEL,
      revision: values.revision,
      dtype,
      visionDtype: dtypeOption('vision-dtype'),
      textDtype: dtypeOption('text-dtype'),
      layer,
      cacheDir,
      offline: values.offline,
      threads: within(values.threads, 'threads', THREADS) || undefined,
      onProgress,
    },
    geometry,
    mask: { contrast: maskOption('contrast', 'contrast', num(values.contrast, 'contrast', MASK_DEFAULTS.contrast)), kernel },
    interpolation,
    gray: maskOption('gray', 'gray', num(values.gray, 'gray', MASK_DEFAULTS.gray)),
    opacity: within(values.opacity, 'opacity', OPACITY),
  };
}
