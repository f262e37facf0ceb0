/**
 * The numbers in a model's config.json, checked before anything is sized from them: each must be
 * a whole number within MODEL_CONFIG_LIMITS, and a message names the field, the file and the value.
 */
import { MODEL_CONFIG_LIMITS } from './defaults';
import { AttentionPromptError } from './errors';

export interface ConfigField {
  /** Dotted path in config.json, e.g. `text_config.num_hidden_layers`. */
  path: string;
  min: number;
  max: number;
}

const L = MODEL_CONFIG_LIMITS;
const positive = (path: string, max: number): ConfigField => ({ path, min: 1, max });

/** The fields CLIP's load and preprocessing size things from. */
export const CLIP_CONFIG_FIELDS: readonly ConfigField[] = [
  positive('vision_config.image_size', L.imageSize),
  positive('vision_config.patch_size', L.patchSize),
  positive('vision_config.num_hidden_layers', L.layers),
  positive('text_config.max_position_embeddings', L.positions),
];

/** The fields a LLaVA-family load, its KV cache and its map are sized from. */
export const LLAVA_CONFIG_FIELDS: readonly ConfigField[] = [
  positive('vision_config.image_size', L.imageSize),
  positive('vision_config.patch_size', L.patchSize),
  positive('vision_config.num_hidden_layers', L.layers),
  positive('text_config.num_hidden_layers', L.layers),
  positive('text_config.num_attention_heads', L.heads),
  positive('text_config.num_key_value_heads', L.heads),
  positive('text_config.hidden_size', L.width),
  positive('text_config.head_dim', L.width),
  positive('text_config.max_position_embeddings', L.positions),
  positive('text_config.vocab_size', L.vocabulary),
  { path: 'image_token_index', min: 0, max: L.vocabulary },
  { path: 'image_token_id', min: 0, max: L.vocabulary },
];

function valueAt(config: unknown, path: string): unknown {
  let o = config;
  for (const key of path.split('.')) {
    if (typeof o !== 'object' || o === null) return undefined;
    o = (o as Record<string, unknown>)[key];
  }
  return o;
}

/** Throws model-structure naming the first field that is not a whole number in its range (absent fields are left to the defaults). */
export function checkConfigNumbers(config: unknown, fields: readonly ConfigField[], file: string): void {
  for (const f of fields) {
    const v = valueAt(config, f.path);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < f.min || v > f.max) {
      throw new AttentionPromptError(
        'model-structure',
        `${file}: "${f.path}" is ${JSON.stringify(v)}; it must be a whole number from ${f.min} to ${f.max}. The file is broken or not from this kind of model: fix the value or download the model again.`,
      );
    }
  }
}
