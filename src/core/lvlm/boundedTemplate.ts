/**
 * The chat template, rendered under a bound. A template is a program (Jinja): `range(3e6)` ran
 * 24 s and took 0.9 GB on the extension's thread. Transformers.js chooses the template and builds
 * what it sees (messages, special tokens); here that choice is taken from it unrendered and the
 * rendering runs in a worker with a small heap, stopped past LVLM_PROMPT_LIMITS.templateRenderMs.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { LVLM_PROMPT_LIMITS } from '../defaults';
import { AttentionPromptError } from '../errors';

interface CompiledTemplate {
  render(context: Record<string, unknown>): string;
}
interface ChatTokenizer {
  _compiled_template_cache?: Map<string, CompiledTemplate>;
}
interface ChatProcessor {
  tokenizer?: ChatTokenizer;
  apply_chat_template?: (messages: unknown, options: unknown) => string;
}

/** The template Transformers.js would render and the context it would render it with, without rendering it. */
export function chatTemplateCall(processor: ChatProcessor, messages: unknown, options: Record<string, unknown>): { template: string; context: Record<string, unknown> } {
  const cache = processor.tokenizer?._compiled_template_cache;
  if (!(cache instanceof Map) || !processor.apply_chat_template) {
    throw new AttentionPromptError('internal', 'This Transformers.js version does not expose its chat-template cache, so the template cannot be rendered under a bound.');
  }
  let template: string | undefined;
  let context: Record<string, unknown> | undefined;
  const capture: CompiledTemplate = {
    render(ctx) {
      context = ctx;
      return '';
    },
  };
  // The cache lookup hands back the capturing stand-in for whatever template was chosen.
  const get = cache.get;
  cache.get = (key: string) => {
    template = key;
    return capture;
  };
  try {
    processor.apply_chat_template(messages, { ...options, tokenize: false });
  } finally {
    cache.get = get;
  }
  if (template === undefined || context === undefined) throw new AttentionPromptError('internal', 'The chat template was not reached.');
  return { template, context };
}

// Transformers.js bundles its own copy of @huggingface/jinja; the worker loads the package it depends on (resolved from this bundle).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Template } = require(workerData.jinja);
parentPort.postMessage(new Template(workerData.template).render(workerData.context));
`;

/** Renders `template` with `context` in a worker: at most templateRenderMs, templateRenderHeapMb of heap, promptChars of output. */
export function renderTemplateBounded(template: string, context: Record<string, unknown>, model: string): Promise<string> {
  const limits = LVLM_PROMPT_LIMITS;
  const fail = (why: string) =>
    new AttentionPromptError('model-structure', `The chat template of "${model}" ${why}; a prompt template should render in well under a second. Check the template (chat_template.jinja, tokenizer_config.json or chat_template.json).`);
  return new Promise<string>((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { jinja: createRequire(__filename).resolve('@huggingface/jinja'), template, context: JSON.parse(JSON.stringify(context)) },
      resourceLimits: { maxOldGenerationSizeMb: limits.templateRenderHeapMb, maxYoungGenerationSizeMb: 16 },
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(fail(`did not finish rendering within ${limits.templateRenderMs / 1000} s`))), limits.templateRenderMs);
    worker.once('message', (text: string) =>
      finish(() => (text.length > limits.promptChars ? reject(fail(`rendered ${text.length} characters (the limit is ${limits.promptChars})`)) : resolve(text))),
    );
    worker.once('error', (e: Error & { code?: string }) =>
      finish(() => reject(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? fail(`needed more than ${limits.templateRenderHeapMb} MB to render`) : fail(`failed to render: ${e.message}`))),
    );
    worker.once('exit', () => finish(() => reject(fail('stopped without a result'))));
  });
}
