/**
 * A local LLaVA-family vision-language model through Transformers.js: it answers questions about
 * images (the `local` AnswerProvider) and computes the paper's LVLM-based attention map
 * (API_LLaVA) while it answers. No vscode import: the CLI and the engine process use it.
 *
 * Loading on first use (lvlmLoad.ts); the prompt (lvlmPrompt.ts) and generation (lvlmGenerate.ts).
 * The map needs layer L's attention scores: the decoder is replaced, on the first map, by the
 * prepared copy from decoderGraph.ts (same graph plus one output: mapSession.ts), and every forward
 * pass that generate() makes is observed; lvlmMap.ts turns the observed steps into the mask.
 */
import type { AnswerProvider, AnswerRequest, AnswerResult } from '../answerProvider';
import { AttentionPromptError, throwIfAborted } from '../errors';
import { DecodedImage, decodeImage } from '../image';
import { type Geometry } from '../defaults';
import { ModelLocation } from '../modelLocation';
import { loadTransformers } from '../transformers';
import { PreparedDecoder } from './decoderGraph';
import { Generation, GenerationArgs, generateAnswer } from './lvlmGenerate';
import { LlavaConfig, LoadedModel, LocalVlmOptions, loadLvlmConfig, loadLvlmModel, locateLvlm } from './lvlmLoad';
import type { MaskParameters } from '../maskParameters';
import { DEFAULT_LVLM_MASK_PARAMETERS, LVLM_MAX_NEW_TOKENS, meanOfSteps, reviseMask, squareGrid, stepMap } from './decoderAttentionMap';
import { checkQuestionLength } from './lvlmPrompt';
import { checkMapSupport, squareInput, swapInMapDecoder } from './mapSession';

/** The presets (core/defaults.ts). Whether their decoder keeps eager attention (needed for the map) is checked when the map is first asked for. */
export { LVLM_PRESETS } from '../defaults';

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
    this.configLoading ??= loadLvlmConfig(this.loc, this.opts).catch((e) => {
      this.configLoading = undefined;
      throw e;
    });
    return this.configLoading;
  }

  private async doLoad(): Promise<LoadedModel> {
    const config = await this.loadConfig();
    return loadLvlmModel(this.loc, this.opts, config, (out) => this.observer?.(out));
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

  /** Every generation passes here (answers and maps): one place to observe them (a test does). */
  private generate(loaded: LoadedModel, ...args: GenerationArgs): Promise<Generation> {
    return generateAnswer(loaded, this.loc.name, ...args);
  }

  private prepareMapDecoder(loaded: LoadedModel): Promise<PreparedDecoder> {
    this.mapDecoder ??= swapInMapDecoder(loaded, this.loc, this.opts).catch((e) => {
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
    checkMapSupport(await this.loadConfig(), this.loc.name);
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
    checkMapSupport(await this.loadConfig(), this.loc.name);
    const loaded = await this.load();
    const prepared = await this.prepareMapDecoder(loaded);
    return this.exclusive(async () => {
      const imageTokenId = loaded.config.image_token_index ?? loaded.config.image_token_id;
      if (imageTokenId === undefined) throw new AttentionPromptError('model-structure', `"${this.loc.name}" has no image_token_index in its config.json.`);
      const input = await squareInput(loaded, req.image, geometry);
      let positions: number[] = [];
      let promptIds: number[] = [];
      const steps: Float64Array[] = [];
      this.observer = (out) => {
        const scores = out[prepared.scoresOutput];
        if (!scores) throw new Error(`the decoder did not return ${prepared.scoresOutput}`);
        steps.push(stepMap(scores.data, scores.dims, positions));
      };
      let run: Generation;
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
