/**
 * Which files a CLIP model in the Transformers.js layout holds: one ONNX file per tower and dtype,
 * plus its config and tokenizer.
 */
import { AttentionPromptError } from './errors';
import { DTYPES, Dtype } from './defaults';

export type Tower = 'vision' | 'text';
export interface TowerDtypes {
  vision: Dtype;
  text: Dtype;
}

export const DTYPE_SUFFIX: Record<Dtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4' };

/** `onnx/vision_model_quantized.onnx` and the like. */
export function towerFile(tower: Tower, dtype: Dtype): string {
  return `onnx/${tower}_model${DTYPE_SUFFIX[dtype]}.onnx`;
}

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function checkDtype(value: unknown, what: string): Dtype {
  if (!isDtype(value)) throw new AttentionPromptError('bad-parameter', `Unknown ${what} "${value}": use one of ${DTYPES.join(', ')}.`);
  return value;
}

/** Each tower's dtype for a location (its `dtype`, unless `dtypes` sets the towers apart). */
export function towerDtypes(loc: { dtype: Dtype; dtypes?: TowerDtypes }): TowerDtypes {
  return loc.dtypes ?? { vision: loc.dtype, text: loc.dtype };
}

export function requiredFiles(dtypes: TowerDtypes | Dtype): string[] {
  const d = typeof dtypes === 'string' ? { vision: dtypes, text: dtypes } : dtypes;
  return ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', towerFile('text', d.text), towerFile('vision', d.vision)];
}
