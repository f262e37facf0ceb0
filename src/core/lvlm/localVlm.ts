/**
 * A local LLaVA-family vision-language model through Transformers.js: it answers questions about
 * images (the `local` AnswerProvider) and computes the paper's LVLM-based attention map
 * (API_LLaVA) while it answers. No vscode import: the CLI and the engine process use it.
 *
 * Loading: on first use; a hub id downloads into the shared model cache (the CLIP models' cache),
 * a folder in the Transformers.js layout loads as it is, `offline` never touches the network.
 * The map needs layer L's attention scores: the decoder is replaced, on the first map, by the
 * prepared copy from decoderGraph.ts (same graph plus one output), and every forward pass that
 * generate() makes is observed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnswerProvider, AnswerRequest, AnswerResult } from '../answerProvider';
import { AttentionPromptError, throwIfAborted } from '../errors';
import { DecodedImage, decodeImage } from '../image';
import { llavaInput } from '../modelInput';
import { LLAVA_CONFIG_FIELDS, checkConfigNumbers } from '../modelConfig';
import { MAX_QUERY_CHARS } from '../text';
import { defaultThreads } from '../threads';
import { chatTemplateCall, renderTemplateBounded } from './boundedTemplate';
import { DEFAULT_LVLM_DTYPE, type Dtype, type Geometry } from '../defaults';
import { cachedPath, checkOfflineFiles } from '../modelCache';
import { DTYPE_SUFFIX } from '../modelFiles';
import { describeLoadError } from '../modelLoadError';
import { ModelLocation, ModelSourceOptions, locateModel } from '../modelLocation';
import { configureTransformers, pretrainedOptions } from '../transformersSource';
import { TransformersModule, loadTransformers } from '../transformers';
import { prepareDecoder, PreparedDecoder } from './decoderGraph';
import type { MaskParameters } from '../maskParameters';
import { DEFAULT_LVLM_MASK_PARAMETERS, LVLM_MAX_NEW_TOKENS, meanOfSteps, reviseMask, squareGrid, stepMap } from './decoderAttentionMap';

/** Model types whose image tokens form one square grid of the vision tower's patches. */
const MAP_MODEL_TYPES = new Set(['llava']);
/** Model types Transformers.js loads as LLaVA-family image-text-to-text models (answers only for tiling ones). */
const ANSWER_MODEL_TYPES = new Set(['llava', 'llava_onevision']);
/** Tiling / any-resolution schemes: the image tokens are several grids (tiles) plus a base image. */
const TILING_MODEL_TYPES = new Set(['llava_onevision', 'llava_next', 'idefics3', 'smolvlm', 'qwen2_vl', 'qwen2_5_vl', 'lfm2_vl', 'gemma3', 'phi3_v']);

/** The presets (core/defaults.ts). Whether their decoder keeps eager attention (needed for the map) is checked when the map is first asked for. */
export { LVLM_PRESETS } from '../defaults';

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

export interface LvlmMapRequest {
  image: DecodedImage;
  question: string;
  geometry?: Geometry;
  mask?: MaskParameters;
  signal?: AbortSignal;
  /** The generated text as it streams. */
  onDelta?: (text: string) => void;
}

export interface LvlmMap {
  grid: [number, number];
  /** Mean over the steps of the head-averaged image-token attention (hook.py:61-64), row-major, row 0 at the top. */
  raw: Float64Array;
  /** revise_mask(raw): the final low-resolution mask in [0, 1]. */
  mask: Float64Array;
  /** The steps' maps, in order (the prefill first). */
  steps: Float64Array[];
  /** The text generated while the map was taken (the reference's answer to the original image). */
  text: string;
  generatedIds: number[];
  /** The prompt's token ids, image tokens expanded. */
  promptIds: number[];
  stopReason: 'eos' | 'length' | 'stop-string';
  layer: number;
  numLayers: number;
  model: string;
  geometry: Geometry;
  /** True when the raw map was constant (no information): the mask keeps the whole image. */
  degenerate: boolean;
  elapsedMs: number;
}

type Model = Awaited<ReturnType<TransformersModule['LlavaForConditionalGeneration']['from_pretrained']>>;
type Processor = Awaited<ReturnType<TransformersModule['AutoProcessor']['from_pretrained']>>;
type OrtSession = import('onnxruntime-node').InferenceSession;

interface LoadedModel {
  model: Model;
  processor: Processor;
  config: LlavaConfig;
  imageSize: number;
  eosIds: number[];
  eosText?: string;
  /** llava-hf's chat_template.json beside the model, when present. */
  chatTemplateFile?: string;
}

interface LlavaConfig {
  model_type?: string;
  image_token_index?: number;
  image_token_id?: number;
  vision_config?: { image_size?: number; patch_size?: number };
  text_config?: { num_hidden_layers?: number; max_position_embeddings?: number };
}

function locateLvlm(opts: LocalVlmOptions): ModelLocation {
  const dtype = opts.dtype ?? DEFAULT_LVLM_DTYPE;
  const files = lvlmRequiredFiles(dtype);
  const loc = locateModel({ ...opts, dtype }, files, 'a Transformers.js LLaVA layout: config.json, tokenizer.json, onnx/vision_encoder.onnx, onnx/embed_tokens.onnx, onnx/decoder_model_merged.onnx');
  checkOfflineFiles(loc, files);
  return loc;
}

/** The question's length, as CLIP's (MAX_QUERY_CHARS): checked before it is tokenized or run. */
function checkQuestionLength(question: unknown): void {
  if (typeof question === 'string' && question.length > MAX_QUERY_CHARS) {
    throw new AttentionPromptError('bad-query', `The question is ${question.length} characters long; the limit is ${MAX_QUERY_CHARS}. Shorten it.`);
  }
}

export class LocalVlm implements AnswerProvider {
  readonly kind = 'local' as const;
  readonly label: { model: string; where: string };
  private readonly loc: ModelLocation;
  private loading?: Promise<LoadedModel>;
  private mapDecoder?: Promise<PreparedDecoder>;
  /** Set while a map generation runs: receives every decoder output. */
  private observer?: (outputs: Record<string, { data: ArrayLike<number>; dims: number[] }>) => void;
  private busy = Promise.resolve();

  constructor(private readonly opts: LocalVlmOptions) {
    this.loc = locateLvlm(opts);
    this.label = { model: opts.model, where: 'this machine' };
  }

  /** Loads the model on first use (download, processor, sessions). */
  load(): Promise<LoadedModel> {
    this.loading ??= this.doLoad().catch((e) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  private configLoading?: Promise<LlavaConfig>;

  /** config.json alone (downloaded first for a hub id): enough to refuse an unsupported model early. */
  private loadConfig(): Promise<LlavaConfig> {
    this.configLoading ??= (async () => {
      const t = await loadTransformers();
      configureTransformers(t, this.loc);
      try {
        const config = (await t.AutoConfig.from_pretrained(this.loc.pretrainedId, pretrainedOptions(this.loc, this.opts.onProgress))) as unknown as LlavaConfig;
        // Before anything is sized from it (the KV cache's names, the map's grid, the input square).
        checkConfigNumbers(config, LLAVA_CONFIG_FIELDS, this.configFile());
        return config;
      } catch (e) {
        if ((e as AttentionPromptError).code === 'model-structure') throw e;
        throw describeLoadError(this.loc, e);
      }
    })().catch((e) => {
      this.configLoading = undefined;
      throw e;
    });
    return this.configLoading;
  }

  /** Where config.json is, for messages. */
  private configFile(): string {
    return this.loc.local ? path.join(this.loc.pretrainedId, 'config.json') : `config.json of ${this.loc.name}`;
  }

  private async doLoad(): Promise<LoadedModel> {
    const config = await this.loadConfig();
    const t = await loadTransformers();
    const loc = this.loc;
    configureTransformers(t, loc);
    const common = pretrainedOptions(loc, this.opts.onProgress);
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
      const threads = this.opts.threads ?? defaultThreads();
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
      this.observer?.(out as never);
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

  /** One generation at a time: the model's sessions and the observer are shared. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async answer(request: AnswerRequest): Promise<AnswerResult> {
    throwIfAborted(request.signal);
    const started = performance.now();
    // A question about an image is a person's, capped as CLIP's is; a text-only prompt (the batch judge) is bounded by the context.
    if (request.image) checkQuestionLength(request.question);
    const img = request.image ? await decodeImage(Buffer.from(request.image.bytes), {}, 'image') : undefined;
    const loaded = await this.load();
    return this.exclusive(async () => {
      const t = await loadTransformers();
      const raw = img ? new t.RawImage(new Uint8ClampedArray(img.rgb.buffer, img.rgb.byteOffset, img.rgb.length), img.width, img.height, 3) : undefined;
      const run = await this.generate(loaded, raw, request.question, request.maxTokens ?? this.opts.maxNewTokens ?? 512, request.signal, request.onDelta, undefined, request.temperature);
      return {
        text: run.text,
        model: this.opts.model,
        finishReason: run.stopReason === 'length' ? 'length' : 'stop',
        incomplete: run.stopReason === 'length',
        elapsedMs: performance.now() - started,
      };
    });
  }

  /**
   * The prompt: the model's chat template when it has one (chat_template.jinja, tokenizer_config.json,
   * or llava-hf's chat_template.json, which Transformers.js does not read), else LLaVA-1.5's
   * (llava-hf) format.
   */
  private async prompt(loaded: LoadedModel, question: string, withImage: boolean): Promise<string> {
    const p = loaded.processor as unknown as {
      chat_template?: string | null;
      tokenizer?: { chat_template?: unknown; _compiled_template_cache?: Map<string, never> };
      apply_chat_template?: (m: unknown, o: unknown) => string;
    };
    const template = p.chat_template ?? loaded.chatTemplateFile ?? (p.tokenizer?.chat_template ? undefined : null);
    if (template !== null && p.apply_chat_template) {
      const content = withImage ? [{ type: 'image' }, { type: 'text', text: question }] : [{ type: 'text', text: question }];
      const call = chatTemplateCall(p, [{ role: 'user', content }], { add_generation_prompt: true, ...(template ? { chat_template: template } : {}) });
      return renderTemplateBounded(call.template, call.context, this.loc.name);
    }
    return withImage ? `USER: <image>\n${question} ASSISTANT:` : `USER: ${question} ASSISTANT:`;
  }

  private async generate(
    loaded: LoadedModel,
    image: unknown,
    question: string,
    maxNewTokens: number,
    signal: AbortSignal | undefined,
    onDelta: ((text: string) => void) | undefined,
    onPrompt?: (inputIds: number[]) => void,
    temperature = 0,
  ): Promise<{ text: string; ids: number[]; stopReason: 'eos' | 'length' | 'stop-string' }> {
    if (typeof question !== 'string' || question.trim() === '') throw new AttentionPromptError('bad-query', 'The question is empty.');
    if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new AttentionPromptError('bad-parameter', `maxTokens must be a positive integer, got ${maxNewTokens}.`);
    const context = loaded.config.text_config?.max_position_embeddings;
    const t = await loadTransformers();
    type Inputs = Record<string, { data: ArrayLike<number | bigint>; dims: number[] }>;
    let inputs: Inputs;
    if (image) {
      const processor = loaded.processor as unknown as (img: unknown, text: string) => Promise<Inputs>;
      inputs = await processor(image, await this.prompt(loaded, question, true));
    } else {
      // Text only (the batch judge): the tokenizer alone; no pixel_values means no image merge.
      const tok = (loaded.processor as unknown as { tokenizer: (text: string) => Inputs }).tokenizer;
      inputs = tok(await this.prompt(loaded, question, false));
    }
    const promptIds = Array.from(inputs.input_ids.data, (v) => Number(v));
    // The prompt and the answer share the context: refuse a prompt that fills it, and never generate past it
    // (a maxTokens setting made for a remote model still holds here: the answer ends where the context does).
    if (context !== undefined && promptIds.length >= context) {
      throw new AttentionPromptError(
        'bad-query',
        `The prompt is ${promptIds.length} tokens (the question, the template${image ? ' and the image' : ''}); "${this.loc.name}" holds ${context} in all, answer included. Shorten the question.`,
      );
    }
    if (context !== undefined) maxNewTokens = Math.min(maxNewTokens, context - promptIds.length);
    onPrompt?.(promptIds);
    const tokenizer = (loaded.processor as unknown as { tokenizer: { decode(ids: number[], o: { skip_special_tokens: boolean }): string } }).tokenizer;
    const ids: number[] = [];
    let emitted = '';
    let stopString = false;
    const streamer = {
      first: true,
      put(value: bigint[][]) {
        if (this.first) {
          this.first = false; // the prompt
          return;
        }
        ids.push(Number(value[0][0]));
        const text = tokenizer.decode(ids, { skip_special_tokens: true });
        // Hold back a trailing replacement character: a multi-byte character split across tokens.
        if (text.length > emitted.length && text.startsWith(emitted) && !text.endsWith('\uFFFD')) {
          onDelta?.(text.slice(emitted.length));
          emitted = text;
        }
      },
      end() {},
    };
    const eosText = loaded.eosText;
    // The reference's KeywordsStoppingCriteria (mm_utils.py:88-98): stop once the decoded tail holds
    // the stop string (LLaVA-1.5's "</s>", the EOS token's text); and stop on cancellation.
    class StopCriteria extends (t.StoppingCriteria as unknown as new () => object) {
      _call(inputIds: bigint[][]): boolean[] {
        return inputIds.map(() => {
          if (signal?.aborted) return true;
          if (eosText && ids.length > 0) {
            const tail = tokenizer.decode(ids.slice(-4), { skip_special_tokens: true });
            if (tail.includes(eosText)) return (stopString = true);
          }
          return false;
        });
      }
    }
    const list = new t.StoppingCriteriaList();
    list.push(new StopCriteria() as never);
    throwIfAborted(signal);
    await (loaded.model as unknown as { generate(o: unknown): Promise<unknown> }).generate({
      ...inputs,
      max_new_tokens: maxNewTokens,
      ...(temperature > 0 ? { do_sample: true, temperature } : { do_sample: false }),
      streamer,
      stopping_criteria: list,
    });
    throwIfAborted(signal);
    const text = tokenizer.decode(ids, { skip_special_tokens: true });
    if (text.length > emitted.length && text.startsWith(emitted)) onDelta?.(text.slice(emitted.length));
    const last = ids[ids.length - 1];
    const stopReason = loaded.eosIds.includes(last) ? 'eos' : stopString ? 'stop-string' : 'length';
    return { text: text.trim(), ids, stopReason };
  }

  /**
   * The square input the map is computed on.
   * - `full`: the whole image resized to the input square: every grid cell covers one region of
   *   the image and the mask stretched back over the image is aligned.
   * - `reference`: LLaVA-1.5's expand2square (image_aspect_ratio "pad": centred on a square of
   *   the processor's mean colour, llava/mm_utils.py) then resized; the mask is later stretched
   *   over the whole image as main.py:84 does, so it is misaligned on non-square images.
   */
  /** The model's pixels as API_LLaVA makes them (expand2square, PIL BICUBIC: modelInput.ts). */
  private async squareInput(loaded: LoadedModel, img: DecodedImage, geometry: Geometry): Promise<unknown> {
    const t = await loadTransformers();
    const mean = (loaded.processor as unknown as { image_processor?: { image_mean?: number[] } }).image_processor?.image_mean ?? [0.5, 0.5, 0.5];
    const { rgb, size } = await llavaInput(img, loaded.imageSize, geometry, mean);
    return new t.RawImage(new Uint8ClampedArray(rgb.buffer, rgb.byteOffset, rgb.length), size, size, 3);
  }

  private checkMapSupport(config: LlavaConfig): void {
    const type = config.model_type ?? '';
    if (!MAP_MODEL_TYPES.has(type)) {
      const why = TILING_MODEL_TYPES.has(type) ? 'its image tokens are tiles of an any-resolution scheme, not one square grid' : 'only model_type llava is supported';
      throw new AttentionPromptError('model-structure', `The LVLM map cannot be computed with "${this.loc.name}" (${type}): ${why}. Use a LLaVA-1.5-style model, or --aux clip.`);
    }
  }

  private prepareMapDecoder(loaded: LoadedModel): Promise<PreparedDecoder> {
    this.mapDecoder ??= (async () => {
      this.checkMapSupport(loaded.config);
      const file = `onnx/decoder_model_merged${DTYPE_SUFFIX[this.loc.dtype]}.onnx`;
      const source = this.loc.local ? path.join(this.loc.pretrainedId, file) : cachedPath(this.loc, file);
      const prepared = await prepareDecoder({ sourcePath: source, layer: this.opts.layer, cacheDir: this.loc.cacheDir, modelName: this.loc.name });
      const ort = await import('onnxruntime-node');
      const session: OrtSession = await ort.InferenceSession.create(prepared.modelPath, {
        intraOpNumThreads: this.opts.threads ?? defaultThreads(),
        interOpNumThreads: 1,
      });
      const sessions = (loaded.model as unknown as { sessions: Record<string, OrtSession> }).sessions;
      const old = sessions.decoder_model_merged;
      sessions.decoder_model_merged = session;
      await old?.release?.();
      return prepared;
    })().catch((e) => {
      this.mapDecoder = undefined;
      throw e;
    });
    return this.mapDecoder;
  }

  /** The model's context in tokens (prompt and answer together), when its config.json says. */
  async contextLength(): Promise<number | undefined> {
    return (await this.loadConfig()).text_config?.max_position_embeddings;
  }

  /** Loads the model and prepares the decoder for maps now (otherwise the first map does it); the map's layer. */
  async prepareMap(): Promise<{ layer: number; numLayers: number }> {
    this.checkMapSupport(await this.loadConfig());
    const prepared = await this.prepareMapDecoder(await this.load());
    return { layer: prepared.layer, numLayers: prepared.numLayers };
  }

  /** The API_LLaVA map of `image` for `question`, and the text generated while taking it. */
  async lvlmMap(req: LvlmMapRequest): Promise<LvlmMap> {
    throwIfAborted(req.signal);
    const started = performance.now();
    const geometry = req.geometry ?? 'full';
    if (geometry !== 'full' && geometry !== 'reference') throw new AttentionPromptError('bad-parameter', `Unknown geometry "${geometry}": use full or reference.`);
    checkQuestionLength(req.question);
    this.checkMapSupport(await this.loadConfig());
    const loaded = await this.load();
    const prepared = await this.prepareMapDecoder(loaded);
    return this.exclusive(async () => {
      const imageTokenId = loaded.config.image_token_index ?? loaded.config.image_token_id;
      if (imageTokenId === undefined) throw new AttentionPromptError('model-structure', `"${this.loc.name}" has no image_token_index in its config.json.`);
      const input = await this.squareInput(loaded, req.image, geometry);
      let positions: number[] = [];
      let promptIds: number[] = [];
      const steps: Float64Array[] = [];
      this.observer = (out) => {
        const scores = out[prepared.scoresOutput];
        if (!scores) throw new Error(`the decoder did not return ${prepared.scoresOutput}`);
        steps.push(stepMap(scores.data, scores.dims, positions));
      };
      let run: Awaited<ReturnType<LocalVlm['generate']>>;
      try {
        run = await this.generate(loaded, input, req.question, LVLM_MAX_NEW_TOKENS, req.signal, req.onDelta, (ids) => {
          promptIds = ids;
          positions = [];
          ids.forEach((id, i) => id === imageTokenId && positions.push(i));
        });
      } finally {
        this.observer = undefined;
      }
      const side = squareGrid(positions.length);
      if (side === undefined) {
        throw new AttentionPromptError('model-structure', `"${this.loc.name}" gave ${positions.length} image tokens, not one square grid; the LVLM map needs a single-grid model.`);
      }
      if (steps.length !== run.ids.length) throw new Error(`collected ${steps.length} steps for ${run.ids.length} generated tokens`);
      const raw = meanOfSteps(steps);
      const { mask, degenerate } = reviseMask(raw, side, side, req.mask ?? DEFAULT_LVLM_MASK_PARAMETERS);
      return {
        grid: [side, side],
        raw,
        mask,
        steps,
        text: run.text,
        generatedIds: run.ids,
        promptIds,
        stopReason: run.stopReason,
        layer: prepared.layer,
        numLayers: prepared.numLayers,
        model: this.loc.name,
        geometry,
        degenerate,
        elapsedMs: performance.now() - started,
      };
    });
  }

  async dispose(): Promise<void> {
    const loading = this.loading;
    this.loading = undefined;
    this.mapDecoder = undefined;
    if (!loading) return;
    try {
      const loaded = await loading;
      await (loaded.model as unknown as { dispose(): Promise<unknown> }).dispose();
    } catch {
      // never loaded
    }
  }
}
