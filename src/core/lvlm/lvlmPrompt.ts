/**
 * The prompt a local LLaVA-family model is given, and the question's bound.
 */
import { AttentionPromptError } from '../errors';
import { MAX_QUERY_CHARS } from '../text';
import { chatTemplateCall, renderTemplateBounded } from './boundedTemplate';
import type { LoadedModel } from './lvlmLoad';

/** The question's length, as CLIP's (MAX_QUERY_CHARS): checked before it is tokenized or run. */
export function checkQuestionLength(question: unknown): void {
  if (typeof question === 'string' && question.length > MAX_QUERY_CHARS) {
    throw new AttentionPromptError('bad-query', `The question is ${question.length} characters long; the limit is ${MAX_QUERY_CHARS}. Shorten it.`);
  }
}

/**
 * The prompt: the model's chat template when it has one (chat_template.jinja, tokenizer_config.json,
 * or llava-hf's chat_template.json, which Transformers.js does not read), else LLaVA-1.5's
 * (llava-hf) format.
 */
export async function lvlmPrompt(loaded: LoadedModel, question: string, withImage: boolean, modelName: string): Promise<string> {
  const p = loaded.processor as unknown as {
    chat_template?: string | null;
    tokenizer?: { chat_template?: unknown; _compiled_template_cache?: Map<string, never> };
    apply_chat_template?: (m: unknown, o: unknown) => string;
  };
  const template = p.chat_template ?? loaded.chatTemplateFile ?? (p.tokenizer?.chat_template ? undefined : null);
  if (template !== null && p.apply_chat_template) {
    const content = withImage ? [{ type: 'image' }, { type: 'text', text: question }] : [{ type: 'text', text: question }];
    const call = chatTemplateCall(p, [{ role: 'user', content }], { add_generation_prompt: true, ...(template ? { chat_template: template } : {}) });
    return renderTemplateBounded(call.template, call.context, modelName);
  }
  return withImage ? `USER: <image>\n${question} ASSISTANT:` : `USER: ${question} ASSISTANT:`;
}
