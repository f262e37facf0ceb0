/**
 * `attention-prompt mask … --aux lvlm`: the paper's LVLM-based map from a local LLaVA-family model
 * (src/core/lvlm), the masked image, and the same model's answer to the masked image.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DecodedImage } from '../core/image';
import { LVLM_PRESETS, LocalVlm } from '../core/lvlm/localVlm';
import { lvlmJson } from '../core/lvlm/contract';
import { LVLM_REFERENCE_GRAY } from '../core/lvlm/decoderAttentionMap';
import { encode, formatForPath, renderOutputs } from '../core/render';
import { AUX_MODELS, AuxModel } from '../core/defaults';
import { MaskSettings, UsageError, num } from './options';
import { TerminalTextFilter, terminalJson } from './terminalText';

export function parseAux(value: string | undefined): AuxModel {
  const aux = (value ?? 'clip') as AuxModel;
  if (!AUX_MODELS.includes(aux)) throw new UsageError(`--aux must be clip or lvlm, got "${value}"`);
  return aux;
}

export const LVLM_USAGE = `  --aux clip|lvlm      auxiliary model: clip (default), or lvlm — the map read from a local
                       LLaVA-style model's decoder attention while it answers (--model is then
                       that model; --layer its decoder layer, default 20/32 of its depth;
                       --gray defaults to 200, the level the reference's API_LLaVA script blends
                       with); the same model then answers the masked image
  --max-tokens N       longest answer with --aux lvlm (default 512)
                       LLaVA-family hub models (not checked here; any Transformers.js LLaVA folder
                       works): ${LVLM_PRESETS.map((p) => p.id).join(', ')}`;

interface LvlmRun {
  imagePath: string;
  image: DecodedImage;
  question: string;
  settings: MaskSettings;
  /** --gray as given (undefined: the reference's 200). */
  gray?: string;
  maxTokens?: string;
  outPath: string;
  heatmapPath: string;
  json: boolean;
  signal?: AbortSignal;
}

export async function runLvlmMask(run: LvlmRun, io: { out: Pick<NodeJS.WriteStream, 'write'>; err: Pick<NodeJS.WriteStream, 'write'> }): Promise<number> {
  const e = run.settings.engine;
  const maxTokens = num(run.maxTokens, 'max-tokens', 512);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new UsageError(`--max-tokens must be a positive integer, got "${run.maxTokens}"`);
  const gray = run.gray === undefined ? LVLM_REFERENCE_GRAY : run.settings.gray;
  const outFormat = formatForPath(run.outPath);
  const heatmapFormat = formatForPath(run.heatmapPath);
  const vlm = new LocalVlm({
    model: e.model,
    revision: e.revision,
    dtype: e.dtype,
    cacheDir: e.cacheDir,
    offline: e.offline,
    remoteHost: e.remoteHost,
    layer: e.layer,
    threads: e.threads,
    maxNewTokens: maxTokens,
    onProgress: e.onProgress,
  });
  try {
    const tLoad = performance.now();
    await vlm.prepareMap();
    // Checked before the map is taken: an answer longer than the model's whole context can never be given.
    const context = await vlm.contextLength();
    if (context !== undefined && maxTokens > context) throw new UsageError(`--max-tokens ${run.maxTokens} is more than ${e.model} can hold: its context is ${context} tokens, prompt included; use at most ${context}`);
    const loadMs = performance.now() - tLoad;
    const t0 = performance.now();
    const map = await vlm.lvlmMap({ image: run.image, question: run.question, geometry: run.settings.geometry, mask: run.settings.mask, signal: run.signal });
    const mapMs = performance.now() - t0;
    if (map.degenerate) io.err.write('warning: the LVLM map was constant (no information); the mask keeps the whole image.\n');
    for (const p of [run.outPath, run.heatmapPath]) fs.mkdirSync(path.dirname(path.resolve(p)), { recursive: true });
    const rendered = await renderOutputs(run.image, map.mask, map.grid, { interpolation: run.settings.interpolation, gray, opacity: run.settings.opacity });
    // The model answers the masked image as it is written (PNG, lossless), whatever --out's format.
    const maskedBytes = await encode(rendered.masked.clone(), 'png').toBuffer();
    await Promise.all([encode(rendered.masked, outFormat).toFile(run.outPath), encode(rendered.overlay(), heatmapFormat).toFile(run.heatmapPath)]);
    if (!run.json) {
      io.out.write(`masked image: ${path.resolve(run.outPath)}\nheatmap:      ${path.resolve(run.heatmapPath)}\n`);
      io.out.write(`load model ${loadMs.toFixed(0)} ms\n`);
      io.out.write(`LVLM map: ${map.model}, decoder layer ${map.layer} of ${map.numLayers}, grid ${map.grid.join('×')}, ${map.steps.length} steps (${map.stopReason}), ${mapMs.toFixed(0)} ms\n`);
      io.out.write('answer (masked image): ');
    }
    const t1 = performance.now();
    // Generated tokens are the model's, not ours: no escape sequence reaches the terminal.
    const printable = new TerminalTextFilter();
    const answer = await vlm.answer({
      question: run.question,
      image: { bytes: maskedBytes, mime: 'image/png' },
      signal: run.signal,
      onDelta: run.json ? undefined : (d) => io.out.write(printable.write(d)),
    });
    const answerMs = performance.now() - t1;
    if (run.json) {
      io.out.write(
        terminalJson({
          ...lvlmJson(map, run.settings.mask),
          gray,
          answer: { text: answer.text, finishReason: answer.finishReason },
          timings: { loadMs: Math.round(loadMs), mapMs: Math.round(mapMs), answerMs: Math.round(answerMs) },
          outputs: { masked: path.resolve(run.outPath), heatmap: path.resolve(run.heatmapPath) },
        }) + '\n',
      );
    } else {
      io.out.write(`\n  (${answer.finishReason === 'length' ? `cut at ${maxTokens} tokens, ` : ''}${answerMs.toFixed(0)} ms)\n`);
    }
  } finally {
    await vlm.dispose();
  }
  return 0;
}
