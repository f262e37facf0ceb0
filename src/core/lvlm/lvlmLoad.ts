/**
 * Loading a local LLaVA-family model through Transformers.js: where it is (hub id into the shared
 * model cache, or a folder in the Transformers.js layout; `offline` never touches the network),
 * its config.json (checked before anything is sized from it), then the model, its processor, the
 * end-of-sequence tokens and llava-hf's chat template file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttentionPromptError } from '../errors';
import { LLAVA_CONFIG_FIELDS, checkConfigNumbers } from '../modelConfig';
import { DEFAULT_LVLM_DTYPE, type Dtype } from '../defaults';
import { cachedPath, checkOfflineFiles } from '../modelCache';
import { DTYPE_SUFFIX } from '../modelFiles';
import { describeLoadError } from '../modelLoadError';
import { ModelLocation, ModelSourceOptions, locateModel } from '../modelLocation';
import { configureTransformers, pretrainedOptions } from '../transformersSource';
import { defaultThreads } from '../threads';
import { TransformersModule, loadTransformers } from '../transformers';

/** Model types Transformers.js loads as LLaVA-family image-text-to-text models (answers only for tiling ones). */
const ANSWER_MODEL_TYPES = new Set(['llava', 'llava_onevision']);

export function lvlmRequiredFiles(dtype: Dtype): string[] {
  const s = DTYPE_SUFFIX[dtype];
  return [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'preprocessor_config.json',
    `onnx/vision_encoder${s}.onnx`,
    `onnx/embed_tokens${s}.onnx`,
    `onnx/decoder_model_merged${s}.onnx`,
  ];
}

/** Where the model comes from (hub id or folder, cache, offline, progress), as for CLIP, and how it runs. */
export interface LocalVlmOptions extends ModelSourceOptions {
  /** Decoder layer for the map; default: the reference's relative depth (20 of 32); negative counts from the end. */
  layer?: number;
  /** ONNX Runtime intra-op threads (default: the cores available). */
  threads?: number;
  /** Longest answer, in tokens (default 512). The map always stops by the reference's rule. */
  maxNewTokens?: number;
}

export type Model = Awaited<ReturnType<TransformersModule['LlavaForConditionalGeneration']['from_pretrained']>>;
export type Processor = Awaited<ReturnType<TransformersModule['AutoProcessor']['from_pretrained']>>;

export interface LoadedModel {
  model: Model;
  processor: Processor;
  config: LlavaConfig;
  imageSize: number;
  eosIds: number[];
  eosText?: string;
  /** llava-hf's chat_template.json beside the model, when present. */
  chatTemplateFile?: string;
}

export interface LlavaConfig {
  model_type?: string;
  image_token_index?: number;
  image_token_id?: number;
  vision_config?: { image_size?: number; patch_size?: number };
  text_config?: { num_hidden_layers?: number; max_position_embeddings?: number };
}

export function locateLvlm(opts: LocalVlmOptions): ModelLocation {
  const dtype = opts.dtype ?? DEFAULT_LVLM_DTYPE;
  const files = lvlmRequiredFiles(dtype);
  const loc = locateModel({ ...opts, dtype }, files, 'a Transformers.js LLaVA layout: config.json, tokenizer.json, onnx/vision_encoder.onnx, onnx/embed_tokens.onnx, onnx/decoder_model_merged.onnx');
  checkOfflineFiles(loc, files);
  return loc;
}

/** Where config.json is, for messages. */
export function configFileName(loc: ModelLocation): string {
  return loc.local ? path.join(loc.pretrainedId, 'config.json') : `config.json of ${loc.name}`;
}

/** config.json alone (downloaded first for a hub id): enough to refuse an unsupported model early. */
export async function loadLvlmConfig(loc: ModelLocation, opts: LocalVlmOptions): Promise<LlavaConfig> {
  const t = await loadTransformers();
  configureTransformers(t, loc);
  try {
    const config = (await t.AutoConfig.from_pretrained(loc.pretrainedId, pretrainedOptions(loc, opts.onProgress))) as unknown as LlavaConfig;
    // Before anything is sized from it (the KV cache's names, the map's grid, the input square).
    checkConfigNumbers(config, LLAVA_CONFIG_FIELDS, configFileName(loc));
    return config;
  } catch (e) {
    if ((e as AttentionPromptError).code === 'model-structure') throw e;
    throw describeLoadError(loc, e);
  }
}

/**
 * The model and its processor, for a config.json already loaded. `observe` receives every decoder
 * output (generate() calls model.forward once per token): the map reads its attention there.
 */
export async function loadLvlmModel(loc: ModelLocation, opts: LocalVlmOptions, config: LlavaConfig, observe: (outputs: Record<string, { data: ArrayLike<number>; dims: number[] }>) => void): Promise<LoadedModel> {
  const t = await loadTransformers();
  configureTransformers(t, loc);
  const common = pretrainedOptions(loc, opts.onProgress);
  const type = config.model_type ?? '(none)';
  if (!ANSWER_MODEL_TYPES.has(type)) {
    throw new AttentionPromptError(
      'model-structure',
      `"${loc.name}" is a ${type} model; the local provider runs LLaVA-family image-text-to-text models (model_type llava or llava_onevision) in the Transformers.js layout.`,
    );
  }
  let model: Model;
  let processor: Processor;
  try {
    const threads = opts.threads ?? defaultThreads();
    const Cls = type === 'llava' ? t.LlavaForConditionalGeneration : t.AutoModelForImageTextToText;
    model = (await Cls.from_pretrained(loc.pretrainedId, {
      ...common,
      dtype: loc.dtype,
      device: 'cpu',
      session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    })) as Model;
    processor = await t.AutoProcessor.from_pretrained(loc.pretrainedId, common);
  } catch (e) {
    throw describeLoadError(loc, e);
  }
  const gen = (model as unknown as { generation_config?: { eos_token_id?: number | number[] } }).generation_config;
  const eos = gen?.eos_token_id;
  const eosIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  const tokenizer = (processor as unknown as { tokenizer?: { eos_token?: string } }).tokenizer;
  // Observe every decoder forward (generate() calls model.forward once per token).
  const forward = model.forward.bind(model);
  (model as unknown as { forward: typeof forward }).forward = async (inputs: unknown) => {
    const out = await forward(inputs as never);
    observe(out as never);
    return out;
  };
  let chatTemplateFile: string | undefined;
  try {
    const file = loc.local ? path.join(loc.pretrainedId, 'chat_template.json') : cachedPath(loc, 'chat_template.json');
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { chat_template?: unknown };
    if (typeof parsed.chat_template === 'string') chatTemplateFile = parsed.chat_template;
  } catch {
    // none
  }
  return { model, processor, config, imageSize: config.vision_config?.image_size ?? 336, eosIds, eosText: tokenizer?.eos_token, chatTemplateFile };
}
