/**
 * `attention-prompt batch`: the runner from a terminal, with a progress bar (rate and ETA) on a
 * TTY, periodic plain lines otherwise, and Ctrl-C that stops after the in-flight writes.
 */
import * as path from 'node:path';
import { ParseArgsConfig, parseArgs } from 'node:util';
import type { BatchProgress, BatchVlmOptions } from '../core/batch/batchOptions';
import { runBatch } from '../core/batch/runner';
import { LocalVlm } from '../core/lvlm/localVlm';
import { LVLM_REFERENCE_GRAY } from '../core/lvlm/decoderAttentionMap';
import { parseAux } from './lvlm';
import { writeReport } from '../core/batch/report';
import { BATCH_CONCURRENCY, BATCH_MAX_RETRIES, DEFAULT_LVLM_DTYPE, type AnswerSourceKind, DEFAULT_VLM_SETTINGS, VLM_MAX_IMAGE_SIDE, VLM_MAX_RETRIES, VLM_MAX_TOKENS, VLM_TEMPERATURE, VLM_TIMEOUT_SECONDS } from '../core/defaults';
import { AttentionPromptError } from '../core/errors';
import { parseMetric } from '../core/batch/scoring';
import { parseShard } from '../core/batch/shards';
import { type SweepAxes, parseSweep } from '../core/batch/sweep';
import { MASK_OPTIONS, UsageError, bounded, joinNegativeValues, maskSettings, within } from './options';
import { describeScores } from './score';
import { exitNow } from './exitNow';

/** The answer sources (`answers.source` in VS Code) a terminal has, the default first: VS Code's models exist only in its extension host. */
const CLI_ANSWER_SOURCES: readonly AnswerSourceKind[] = ['openai', 'local'];

/** More parallel requests than this only trips an endpoint's rate limits. */
const MAX_CONCURRENCY = 64;
/** An hour per answer is already far past any endpoint's own limit. */
const MAX_TIMEOUT_S = 3600;

export const BATCH_USAGE = `Usage: attention-prompt batch <folder | glob | list.txt | questions.jsonl> [options]

Masks every image (and asks a vision-language model about it, unless --no-vlm). A JSONL input has
one item per line: {"id"?, "image", "question", "hint"?, "answer"?, "choices"?, "category"?};
relative paths resolve against its folder. With "answer" (a string or a list of accepted answers;
with "choices", an option letter or text) both answers are scored and summary.json compares them.

Options:
  --question TEXT      the question for items that have none (folders, globs, lists)
  --hint TEXT          compute the maps from TEXT for items without a hint of their own
  --out DIR            output folder (default ./attention-batch)
  --aux clip|lvlm      auxiliary model: clip (default), or lvlm — each map read from the local
                       LLaVA-style model --model while it answers the item's question (hints are
                       not used; --layer is its decoder layer; --gray defaults to 200, as the
                       reference's API_LLaVA script blends)
  --no-vlm             masks only; nothing leaves the machine
  --vlm-provider P     who answers: openai (default: the endpoint below) or local — a local
                       LLaVA-style model on this machine (--vlm-model, default the --aux lvlm
                       model; no endpoint, no key)
  --concurrency N      VLM requests at once (default ${BATCH_CONCURRENCY})
  --resume             continue an interrupted run in the same --out folder (same settings)
  --allow-changed-settings
                       let --resume continue with different settings (mixed in one results file)
  --allow-outside-paths
                       let a JSONL file or list name images outside its own folder
  --layout reference   also write APICLIP_{dataset}_{model}_{layer}/{coe}_{kernel}_{interp}_{gray}/{id}.jpg
  --dataset NAME       the {dataset} of the reference layout (default: the input's name)
  --vlm-base-url URL   OpenAI-compatible endpoint (default ${DEFAULT_VLM_SETTINGS.baseURL}); key from OPENAI_API_KEY
  --vlm-model NAME     (default ${DEFAULT_VLM_SETTINGS.model})
  --no-compare         do not also ask about the original image
  --judge              grade open answers with the same VLM (MM-Vet's grader prompt, 0–1)
  --metric M           what counts as right in summary.json: exact (default), contains, judge
  --shard i/n          only the items of shard i of n (split by a hash of the id); merge with
                       attention-prompt merge
  --sweep AXIS=V1,V2…  every combination of layer, contrast, kernel values, e.g.
                       --sweep layer=20,22 contrast=3,5 kernel=1,3
  --max-tokens N       (default ${DEFAULT_VLM_SETTINGS.maxTokens})    --temperature T   0–2 (default ${DEFAULT_VLM_SETTINGS.temperature})
  --timeout SECONDS    longest silence (default ${DEFAULT_VLM_SETTINGS.timeoutMs / 1000})  --retries N       ${VLM_MAX_RETRIES.min}–${VLM_MAX_RETRIES.max} (default ${BATCH_MAX_RETRIES})
  --max-image-side PX  ${VLM_MAX_IMAGE_SIDE.min}–${VLM_MAX_IMAGE_SIDE.max} (default ${VLM_MAX_IMAGE_SIDE.default})
  and every mask option of \`attention-prompt mask\`: --model --revision --dtype --layer --contrast
  --kernel --interp --gray --geometry --opacity --cache-dir --threads --offline`;

const BATCH_OPTIONS = {
  question: { type: 'string' },
  out: { type: 'string' },
  'no-vlm': { type: 'boolean' },
  aux: { type: 'string' },
  'vlm-provider': { type: 'string' },
  concurrency: { type: 'string' },
  resume: { type: 'boolean' },
  'allow-changed-settings': { type: 'boolean' },
  'allow-outside-paths': { type: 'boolean' },
  layout: { type: 'string' },
  dataset: { type: 'string' },
  'vlm-base-url': { type: 'string' },
  'vlm-model': { type: 'string' },
  'no-compare': { type: 'boolean' },
  judge: { type: 'boolean' },
  metric: { type: 'string' },
  shard: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  'max-image-side': { type: 'string' },
  ...MASK_OPTIONS,
} as const satisfies ParseArgsConfig['options'];

/** An http(s) URL with a host: anything else would fail late or send the key somewhere odd. */
export function checkBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--vlm-base-url must be an http:// or https:// URL such as ${DEFAULT_VLM_SETTINGS.baseURL}, got "${value}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.host) {
    throw new UsageError(`--vlm-base-url must be an http:// or https:// URL with a host, got "${value}"`);
  }
  return value;
}

/** The VLM options, every one checked before anything loads. */
function vlmOptions(values: { [k: string]: string | boolean | undefined }, apiKey: string): BatchVlmOptions {
  const str = (k: string) => values[k] as string | undefined;
  const model = str('vlm-model') ?? DEFAULT_VLM_SETTINGS.model;
  if (!model.trim()) throw new UsageError('--vlm-model is empty');
  return {
    ...DEFAULT_VLM_SETTINGS,
    apiKey,
    baseURL: checkBaseUrl(str('vlm-base-url') ?? DEFAULT_VLM_SETTINGS.baseURL),
    model,
    maxTokens: within(str('max-tokens'), 'max-tokens', VLM_MAX_TOKENS),
    temperature: within(str('temperature'), 'temperature', VLM_TEMPERATURE),
    timeoutMs: bounded(str('timeout'), 'timeout', VLM_TIMEOUT_SECONDS.default, { min: VLM_TIMEOUT_SECONDS.min, max: MAX_TIMEOUT_S }) * 1000,
    maxRetries: within(str('retries'), 'retries', { ...VLM_MAX_RETRIES, default: BATCH_MAX_RETRIES }),
    compareWithOriginal: !values['no-compare'],
    maxImageSide: within(str('max-image-side'), 'max-image-side', VLM_MAX_IMAGE_SIDE),
  };
}

function bar(p: BatchProgress, started: number): string {
  const finished = p.done + p.failed + p.skipped;
  const width = 24;
  const filled = p.total ? Math.round((finished / p.total) * width) : 0;
  const remaining = p.total - finished;
  const eta = p.rate > 0 ? remaining / p.rate : NaN;
  const etaText = Number.isFinite(eta) ? `${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, '0')}s` : '–';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${p.total} · ${p.failed} failed · ${p.rate.toFixed(2)} img/s · ETA ${etaText} · ${((Date.now() - started) / 1000).toFixed(0)}s`;
}

/** `--sweep layer=20,22 contrast=3,5`: the axis=values words after --sweep all belong to it. */
export function gatherSweepArgs(argv: string[]): { args: string[]; sweep: string[] } {
  const args: string[] = [];
  const sweep: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--sweep') {
      if (i + 1 >= argv.length) throw new UsageError('--sweep needs axis=v1,v2 (layer, contrast, kernel)');
      while (i + 1 < argv.length && /^[a-z]+=/.test(argv[i + 1])) sweep.push(argv[++i]);
      if (!sweep.length) throw new UsageError(`--sweep needs axis=v1,v2 (layer, contrast, kernel), got "${argv[i + 1]}"`);
    } else if (argv[i].startsWith('--sweep=')) sweep.push(argv[i].slice('--sweep='.length));
    else args.push(argv[i]);
  }
  return { args, sweep };
}

export async function runBatchCommand(argv: string[], onInterrupt: (handler: () => void) => void, io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const gathered = gatherSweepArgs(argv);
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(gathered.args, BATCH_OPTIONS),
    allowPositionals: true,
    options: BATCH_OPTIONS,
  });
  if (values.help) {
    io.out.write(BATCH_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one input: attention-prompt batch <folder | glob | list.txt | questions.jsonl>');
  if (values.layout !== undefined && values.layout !== 'reference') throw new UsageError(`--layout must be "reference", got "${values.layout}"`);
  const settings = maskSettings(values);
  let metric;
  try {
    metric = parseMetric(values.metric);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.judge && values['no-vlm']) throw new UsageError('--judge grades answers with the VLM: it cannot go with --no-vlm');
  const shard = values.shard !== undefined ? parseShard(values.shard) : undefined;
  let sweep: SweepAxes | undefined;
  try {
    sweep = gathered.sweep.length ? parseSweep(gathered.sweep) : undefined;
  } catch (e) {
    // A bad sweep is the command line's fault: a usage error, before anything is read or loaded.
    throw new UsageError((e as Error).message);
  }
  const input = positionals[0];
  if (values.out !== undefined && !values.out.trim()) throw new UsageError('--out is empty');
  const outDir = path.resolve(values.out ?? 'attention-batch');
  if (values.dataset !== undefined && !/^[\w-][\w.-]*$/.test(values.dataset)) {
    throw new UsageError(`--dataset must be a plain name (letters, digits, "_", "-", "."; not starting with "."), got "${values.dataset}"`);
  }
  const concurrency = bounded(values.concurrency, 'concurrency', BATCH_CONCURRENCY, { min: 1, max: MAX_CONCURRENCY, integer: true });
  const aux = parseAux(values.aux);
  if (aux === 'lvlm') {
    if (values.model === undefined) throw new UsageError('--aux lvlm needs --model: a LLaVA-style model (hub id, or a folder in the Transformers.js layout)');
    if (values.hint !== undefined) throw new UsageError('--hint applies to --aux clip only (the LVLM map is read while the model answers the question)');
    // The reference's API_LLaVA script blends with its default gray level, 200 (main.py:24-37).
    if (values.gray === undefined) settings.gray = LVLM_REFERENCE_GRAY;
    if (values.dtype === undefined) settings.engine.dtype = DEFAULT_LVLM_DTYPE;
  }
  const provider = values['vlm-provider'] ?? CLI_ANSWER_SOURCES[0];
  if (!(CLI_ANSWER_SOURCES as readonly string[]).includes(provider)) throw new UsageError(`--vlm-provider must be ${CLI_ANSWER_SOURCES.join(' or ')}, got "${provider}"`);
  const useVlm = !values['no-vlm'];
  if (!useVlm && values['vlm-provider'] !== undefined) throw new UsageError('--vlm-provider cannot go with --no-vlm');
  const local = useVlm && provider === 'local';
  if (local && values['vlm-model'] === undefined && aux !== 'lvlm') throw new UsageError('--vlm-provider local needs --vlm-model: a LLaVA-style model (hub id or folder), or --aux lvlm to answer with its --model');
  if (local && values['vlm-base-url'] !== undefined) throw new UsageError('--vlm-base-url applies to --vlm-provider openai only');
  const apiKey = process.env.OPENAI_API_KEY ?? '';
  const vlm = useVlm ? vlmOptions(local ? { ...values, 'vlm-model': values['vlm-model'] ?? settings.engine.model } : values, apiKey) : undefined;
  if (useVlm && !local && !apiKey) {
    throw new AttentionPromptError('bad-parameter', 'No API key: set OPENAI_API_KEY (any text for local servers such as Ollama), or run with --no-vlm to make masks only.');
  }
  const controller = new AbortController();
  let interrupted = false;
  onInterrupt(() => {
    if (interrupted) exitNow();
    interrupted = true;
    io.err.write('\nstopping after the writes in flight (Ctrl-C again to quit now)…\n');
    controller.abort();
  });
  const started = Date.now();
  let lastLine = 0;
  const tty = !!io.err.isTTY;
  // The local model answers (and, with --aux lvlm on the same model, also maps: loaded once).
  const e = settings.engine;
  const localVlm = local && vlm ? new LocalVlm({ ...e, model: vlm.model, dtype: aux === 'lvlm' ? e.dtype : DEFAULT_LVLM_DTYPE, layer: aux === 'lvlm' ? e.layer : undefined, maxNewTokens: vlm.maxTokens }) : undefined;
  try {
    const summary = await runBatch({
      input,
      aux,
      answers: localVlm,
      lvlm: aux === 'lvlm' && vlm?.model === e.model ? localVlm : undefined,
      question: values.question,
      hint: values.hint,
      outDir,
      ...settings,
      vlm,
      concurrency,
      resume: !!values.resume,
      shard,
      sweep,
      judge: !!values.judge,
      metric,
      allowChangedSettings: !!values['allow-changed-settings'],
      allowOutsidePaths: !!values['allow-outside-paths'],
      referenceLayout: values.layout === 'reference' ? { dataset: values.dataset ?? path.basename(input, path.extname(input)).replace(/[^\w.-]+/g, '_') } : undefined,
      signal: controller.signal,
      onLog: (m) => io.err.write(`${m}\n`),
      onProgress: (p) => {
        const now = Date.now();
        if (tty) {
          if (now - lastLine > 100) io.err.write(`\r\x1b[K${bar(p, started)}`);
        } else if (now - lastLine > 5000 || p.done + p.failed + p.skipped === p.total) {
          io.err.write(`${bar(p, started)}\n`);
        } else return;
        lastLine = now;
      },
    });
    if (tty) io.err.write('\r\x1b[K');
    const report = await writeReport(outDir, summary);
    io.out.write(
      `${summary.done} done, ${summary.failed} failed, ${summary.skipped} skipped of ${summary.total}${summary.interrupted ? ' (interrupted: rerun with --resume)' : ''}\n` +
        `${summary.imagesPerSecond.toFixed(2)} images/s over ${(summary.elapsedMs / 1000).toFixed(1)} s (${(summary.loadMs / 1000).toFixed(1)} s of it loading the model)\n` +
        describeScores(summary) +
        `results: ${path.join(outDir, 'results.jsonl')}\nsummary: ${path.join(outDir, 'summary.json')}\nreport:  ${report}\n`,
    );
    return summary.interrupted ? 130 : summary.failed > 0 ? 1 : 0;
  } finally {
    await localVlm?.dispose();
  }
}
