/**
 * What the API_LLaVA map needs beyond answering: a model whose image tokens form one square grid,
 * the square input the map is computed on, and the decoder replaced by the prepared copy from
 * decoderGraph.ts (same graph plus layer L's attention scores as an output).
 */
import * as path from 'node:path';
import { AttentionPromptError } from '../errors';
import { DecodedImage } from '../image';
import { llavaInput } from '../modelInput';
import type { Geometry } from '../defaults';
import { cachedPath } from '../modelCache';
import { DTYPE_SUFFIX } from '../modelFiles';
import type { ModelLocation } from '../modelLocation';
import { defaultThreads } from '../threads';
import { loadTransformers } from '../transformers';
import { prepareDecoder, PreparedDecoder } from './decoderGraph';
import type { LlavaConfig, LoadedModel, LocalVlmOptions } from './lvlmLoad';

/** Model types whose image tokens form one square grid of the vision tower's patches. */
const MAP_MODEL_TYPES = new Set(['llava']);
/** Tiling / any-resolution schemes: the image tokens are several grids (tiles) plus a base image. */
const TILING_MODEL_TYPES = new Set(['llava_onevision', 'llava_next', 'idefics3', 'smolvlm', 'qwen2_vl', 'qwen2_5_vl', 'lfm2_vl', 'gemma3', 'phi3_v']);

type OrtSession = import('onnxruntime-node').InferenceSession;

/**
 * The square input the map is computed on: the model's pixels as API_LLaVA makes them
 * (expand2square, PIL BICUBIC: modelInput.ts).
 * - `full`: the whole image resized to the input square: every grid cell covers one region of
 *   the image and the mask stretched back over the image is aligned.
 * - `reference`: LLaVA-1.5's expand2square (image_aspect_ratio "pad": centred on a square of
 *   the processor's mean colour, llava/mm_utils.py) then resized; the mask is later stretched
 *   over the whole image as main.py:84 does, so it is misaligned on non-square images.
 */
export async function squareInput(loaded: LoadedModel, img: DecodedImage, geometry: Geometry): Promise<unknown> {
  const t = await loadTransformers();
  const mean = (loaded.processor as unknown as { image_processor?: { image_mean?: number[] } }).image_processor?.image_mean ?? [0.5, 0.5, 0.5];
  const { rgb, size } = await llavaInput(img, loaded.imageSize, geometry, mean);
  return new t.RawImage(new Uint8ClampedArray(rgb.buffer, rgb.byteOffset, rgb.length), size, size, 3);
}

export function checkMapSupport(config: LlavaConfig, modelName: string): void {
  const type = config.model_type ?? '';
  if (!MAP_MODEL_TYPES.has(type)) {
    const why = TILING_MODEL_TYPES.has(type) ? 'its image tokens are tiles of an any-resolution scheme, not one square grid' : 'only model_type llava is supported';
    throw new AttentionPromptError('model-structure', `The LVLM map cannot be computed with "${modelName}" (${type}): ${why}. Use a LLaVA-1.5-style model, or --aux clip.`);
  }
}

/** Prepares the map's decoder and puts its session in place of the model's decoder; the old session is released. */
export async function swapInMapDecoder(loaded: LoadedModel, loc: ModelLocation, opts: LocalVlmOptions): Promise<PreparedDecoder> {
  checkMapSupport(loaded.config, loc.name);
  const file = `onnx/decoder_model_merged${DTYPE_SUFFIX[loc.dtype]}.onnx`;
  const source = loc.local ? path.join(loc.pretrainedId, file) : cachedPath(loc, file);
  const prepared = await prepareDecoder({ sourcePath: source, layer: opts.layer, cacheDir: loc.cacheDir, modelName: loc.name });
  const ort = await import('onnxruntime-node');
  const session: OrtSession = await ort.InferenceSession.create(prepared.modelPath, {
    intraOpNumThreads: opts.threads ?? defaultThreads(),
    interOpNumThreads: 1,
  });
  const sessions = (loaded.model as unknown as { sessions: Record<string, OrtSession> }).sessions;
  const old = sessions.decoder_model_merged;
  sessions.decoder_model_merged = session;
  await old?.release?.();
  return prepared;
}
