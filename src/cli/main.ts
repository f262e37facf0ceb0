/**
 * `attention-prompt`: the engine from a terminal.
 *   attention-prompt mask <image> "<question>" [options]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { isAttentionPromptError } from '../core/errors';
import { AttentionPromptEngine } from '../core/engine';
import { alphaForGeometry, decodeImage } from '../core/image';
import { formatBytes } from '../core/sizes';
import { CONTRAST, DEFAULT_DTYPE, DEFAULT_GEOMETRY, DEFAULT_LVLM_DTYPE, DEFAULT_MODEL, DEFAULT_REVISION, DTYPES, GEOMETRIES, GRAY, INTERPOLATIONS, KERNEL_SIZES, MASK_DEFAULTS, MODEL_PRESETS, OPACITY } from '../core/defaults';
import type { DownloadProgress } from '../core/modelLocation';
import { encode, formatForPath, renderOutputs } from '../core/render';
import { MASK_OPTIONS, UsageError, joinNegativeValues, maskSettings } from './options';
import { attributionJson } from '../core/jsonOutput';
import { runBatchCommand } from './batch';
import { runMergeCommand, runScoreCommand } from './score';
import { LVLM_USAGE, parseAux, runLvlmMask } from './lvlm';
import { exitNow } from './exitNow';
import { terminalJson, terminalText } from './terminalText';

/** Default output names: <image>.masked.png in the working folder, the overlay beside it. */
const MASKED_NAME = '.masked.png';
const OVERLAY_NAME = '.overlay.png';

/** The overlay's default path: beside the masked image, named after it (x.jpg → x.overlay.png, photo.masked.png → photo.overlay.png). */
export function heatmapBeside(outPath: string): string {
  const stem = path.basename(outPath, path.extname(outPath)).replace(/\.masked$/, '');
  return path.join(path.dirname(outPath), `${stem}${OVERLAY_NAME}`);
}

const USAGE = `Usage: attention-prompt mask <image> "<question>" [options]
       attention-prompt batch <folder | glob | list.txt | questions.jsonl> [options]   (batch --help)
       attention-prompt score <out folder>                  rescore saved answers (score --help)
       attention-prompt merge <out folder>… --out <folder>  merge shard outputs (merge --help)

Computes the Attention Prompting on Image mask (Yu et al., ECCV 2024) with a CLIP model and
writes the masked image and a heatmap overlay.

Options:
  --hint TEXT          compute the map from TEXT instead of the question
  --out FILE           masked image (.png/.jpg/.webp; default <image>${MASKED_NAME} here)
  --heatmap FILE       heatmap overlay (default: beside the masked image, named after it:
                       x.jpg → x${OVERLAY_NAME}, <image>${MASKED_NAME} → <image>${OVERLAY_NAME})
  --model ID|DIR       hub id or local Transformers.js folder (default ${DEFAULT_MODEL})
  --revision REV       hub revision (default ${DEFAULT_REVISION})
  --dtype D            weights of both towers (default ${DEFAULT_DTYPE}): ${DTYPES.join(', ')}
                       (the hub's onnx/*_model{,_fp16,_quantized,…}.onnx files)
  --vision-dtype D, --text-dtype D
                       one tower's weights (e.g. --dtype q8 --text-dtype fp32)
  --layer N            CLIP block (default: layers − 2; negative counts from the end)
  --contrast C         sigmoid contrast of the class-token map, ${CONTRAST.min}–${CONTRAST.max} (default ${MASK_DEFAULTS.contrast})
  --kernel K           box-filter size, ${KERNEL_SIZES.join(' | ')} (default ${MASK_DEFAULTS.kernel})
  --interp NAME        ${INTERPOLATIONS.join(' | ')} (default ${MASK_DEFAULTS.interpolation})
  --gray G             gray level ${GRAY.min}–${GRAY.max} that irrelevant regions fade to (default ${MASK_DEFAULTS.gray})
  --geometry ${GEOMETRIES.join('|')}
                       full: whole image (default ${DEFAULT_GEOMETRY}); reference: centre crop as the paper's code
  --opacity A          heatmap overlay opacity ${OPACITY.min}–${OPACITY.max} (default ${MASK_DEFAULTS.opacity})
  --cache-dir DIR      model cache (default ~/.cache/attention-prompting/models)
  --threads N          ONNX Runtime threads (default: all cores)
  --offline            never touch the network; fail if a file is not cached
  --json               print the maps as JSON (aux, grid, clsMap, patchMap, mask, …; with
                       --aux lvlm: grid, rawMap, mask, generatedText, answer, …)
${LVLM_USAGE}
  -h, --help           this help

Presets: ${MODEL_PRESETS.map((p) => p.id).join(', ')}
The hub base URL can be changed with HF_ENDPOINT.`;

export function progressPrinter(stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>): ((p: DownloadProgress) => void) | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  return (p) => {
    if (p.status === 'progress' && p.total) {
      const now = Date.now();
      if (now - last < 100 && p.loaded !== p.total) return;
      last = now;
      stream.write(`\r\x1b[Kdownloading ${p.file} ${Math.floor(p.progress ?? 0)}% (${formatBytes(p.loaded ?? 0)} of ${formatBytes(p.total)})`);
    } else if (p.status === 'done') {
      stream.write('\r\x1b[K');
    }
  };
}

export async function runMask(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const options = { ...MASK_OPTIONS, out: { type: 'string' }, heatmap: { type: 'string' }, json: { type: 'boolean' }, aux: { type: 'string' }, 'max-tokens': { type: 'string' } } as const;
  const { values, positionals } = parseArgs({ args: joinNegativeValues(argv, options), allowPositionals: true, options });
  if (values.help) {
    io.out.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('expected an image and a question: attention-prompt mask <image> "<question>"');
  const [imagePath, question] = positionals;
  const settings = maskSettings(values, progressPrinter(io.err));
  const aux = parseAux(values.aux);
  if (aux === 'lvlm' && values.model === undefined) throw new UsageError('--aux lvlm needs --model: a LLaVA-style model (hub id, or a folder in the Transformers.js layout)');
  if (aux === 'lvlm' && values.dtype === undefined) settings.engine.dtype = DEFAULT_LVLM_DTYPE;
  if (aux === 'clip' && values['max-tokens'] !== undefined) throw new UsageError('--max-tokens applies to --aux lvlm only');
  const outPath = values.out ?? `${path.basename(imagePath, path.extname(imagePath))}${MASKED_NAME}`;
  const heatmapPath = values.heatmap ?? heatmapBeside(outPath);
  const outFormat = formatForPath(outPath);
  const heatmapFormat = formatForPath(heatmapPath);
  checkOutputPaths(imagePath, outPath, heatmapPath, values.heatmap === undefined);

  const stages: Array<[string, number]> = [];
  const timed = async <T>(stage: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    stages.push([stage, performance.now() - t0]);
    return r;
  };

  // Decode first: a bad image fails in milliseconds, before any model loads.
  const image = await timed('decode image', () => decodeImage(imagePath, { alpha: alphaForGeometry(settings.geometry) }));
  if (aux === 'lvlm') {
    if (values.hint !== undefined) throw new UsageError('--hint applies to --aux clip only (the LVLM map is read while the model answers the question)');
    // DEFAULT_DTYPE is CLIP's; the LVLM keeps its own default unless --dtype names one.
    const lvlmSettings = values.dtype === undefined ? { ...settings, engine: { ...settings.engine, dtype: undefined } } : settings;
    return runLvlmMask({ imagePath, image, question, settings: lvlmSettings, gray: values.gray, maxTokens: values['max-tokens'], outPath, heatmapPath, json: !!values.json }, io);
  }
  const engine = await timed('load model', () => AttentionPromptEngine.load({ ...settings.engine, expectQuestions: [values.hint || question] }));
  try {
    const result = await timed('heatmap', () =>
      engine.attribute(image, {
        question,
        hint: values.hint,
        geometry: settings.geometry,
        mask: settings.mask,
      }),
    );
    if (result.text.truncated) {
      io.err.write(`warning: the ${values.hint ? 'hint' : 'question'} has ${result.text.tokens} tokens; CLIP read only the first 77.\n`);
    }
    if (result.degenerate) io.err.write('warning: an attribution map was constant (no information); the mask keeps more of the image.\n');
    for (const p of [outPath, heatmapPath]) {
      fs.mkdirSync(path.dirname(path.resolve(p)), { recursive: true });
      if (fs.existsSync(p)) io.err.write(`replacing ${path.resolve(p)}\n`);
    }
    await timed('render', async () => {
      const rendered = await renderOutputs(image, result.mask, result.grid, { interpolation: settings.interpolation, gray: settings.gray, opacity: settings.opacity });
      await Promise.all([encode(rendered.masked, outFormat).toFile(outPath), encode(rendered.overlay(), heatmapFormat).toFile(heatmapPath)]);
    });
    if (values.json) {
      io.out.write(terminalJson({ aux: 'clip', ...attributionJson(result), outputs: { masked: path.resolve(outPath), heatmap: path.resolve(heatmapPath) } }) + '\n');
    } else {
      io.out.write(`masked image: ${path.resolve(outPath)}\nheatmap:      ${path.resolve(heatmapPath)}\n`);
      io.out.write(`model ${engine.modelName}, layer ${engine.layer} of ${engine.numLayers}, grid ${result.grid.join('×')}, ${result.text.tokens} tokens\n`);
      for (const [stage, ms] of Object.entries(engine.loadTimings)) io.out.write(`  ${stage.padEnd(24)} ${ms.toFixed(0).padStart(7)} ms\n`);
      for (const [stage, ms] of Object.entries(result.timings)) io.out.write(`  heatmap: ${stage.padEnd(15)} ${ms.toFixed(0).padStart(7)} ms\n`);
      for (const [stage, ms] of stages) io.out.write(`${stage.padEnd(26)} ${ms.toFixed(0).padStart(7)} ms\n`);
    }
  } finally {
    await engine.dispose();
  }
  return 0;
}

/** Whether two paths name one file: the same path, or (both existing) the same inode, links included. */
function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** `mask` never writes over its input, nor one output over the other. */
function checkOutputPaths(input: string, out: string, heatmap: string, heatmapDefaulted: boolean): void {
  if (sameFile(out, input)) throw new UsageError(`--out ${out} is the input image; choose another file (the input is never overwritten)`);
  if (heatmapDefaulted && sameFile(heatmap, input)) throw new UsageError(`the overlay's default path beside --out, ${heatmap}, is the input image; name another file with --heatmap (the input is never overwritten)`);
  if (sameFile(heatmap, input)) throw new UsageError(`--heatmap ${heatmap} is the input image; choose another file (the input is never overwritten)`);
  if (sameFile(out, heatmap)) throw new UsageError(`--out and --heatmap both name ${out}; give them different files`);
}

/** A Node system error (file system, network) as one line: what failed, on which path. */
function systemErrorLine(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof err.code !== 'string' || !/^E[A-Z]+$/.test(err.code)) return undefined;
  return err.message.split('\n')[0];
}

let interruptHandler: (() => void) | undefined;

/** Ctrl-C: the running command's graceful stop if it has one, else quit now (not after the work in flight). */
export function interrupt(signal: NodeJS.Signals = 'SIGINT'): void {
  if (interruptHandler) interruptHandler();
  else {
    process.stderr.write('\nattention-prompt: interrupted\n');
    exitNow(signal);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    }
    if (command === '--version') {
      process.stdout.write(readVersion() + '\n');
      return 0;
    }
    if (command === 'mask') return await runMask(rest);
    if (command === 'batch') return await runBatchCommand(rest, (h) => (interruptHandler = h));
    if (command === 'score') return await runScoreCommand(rest);
    if (command === 'merge') return await runMergeCommand(rest);
    throw new UsageError(`unknown command "${command}" (try: attention-prompt mask --help)`);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
      fail((e as Error).message);
      return 2;
    }
    if (isAttentionPromptError(e)) {
      fail(e.message);
      return e.code === 'cancelled' ? 130 : 1;
    }
    const line = systemErrorLine(e);
    if (line) {
      fail(line);
      return 1;
    }
    // A bug: one line by default, the stack when asked for.
    fail(process.env.ATTENTION_PROMPT_DEBUG ? `unexpected error: ${(e as Error).stack ?? e}` : `unexpected error: ${(e as Error).message ?? e} (set ATTENTION_PROMPT_DEBUG=1 for details)`);
    return 1;
  }
}

/** An error line: messages echo names from outside (files, servers), so no escape sequence gets through. */
function fail(message: string): void {
  process.stderr.write(`attention-prompt: ${terminalText(message)}\n`);
}

function readVersion(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}
