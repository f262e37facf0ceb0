/**
 * VS Code's language models (GitHub Copilot's, or any extension's registered through
 * `vscode.lm.registerLanguageModelChatProvider`) as a source of answers. Only the extension host
 * has `vscode.lm`, so this AnswerProvider lives here; the engine process reaches it through an
 * engine → host request. Images go as `LanguageModelDataPart.image` (stable since VS Code 1.106).
 */
import * as vscode from 'vscode';
import type { AnswerProvider, AnswerRequest, AnswerResult } from '../core/answerProvider';
import type { ErrorCode } from '../shared/rpc';

const CHOSEN_MODEL = 'attentionPrompting.languageModel';

/** What identifies a chosen model across sessions. */
export interface LanguageModelRef {
  vendor: string;
  id: string;
  family: string;
  name: string;
}

/**
 * Image input as the model's provider declared it. VS Code 1.106 puts `capabilities` on every
 * `LanguageModelChat` it hands out (from `LanguageModelChatInformation.capabilities.imageInput`);
 * the stable typings do not list it on the consumer side yet, so it is read defensively.
 */
export function acceptsImages(model: vscode.LanguageModelChat): boolean {
  const capabilities = (model as { capabilities?: { supportsImageToText?: boolean } }).capabilities;
  return capabilities?.supportsImageToText === true;
}

export async function imageCapableModels(): Promise<vscode.LanguageModelChat[]> {
  return (await vscode.lm.selectChatModels()).filter(acceptsImages);
}

export function refOf(model: vscode.LanguageModelChat): LanguageModelRef {
  return { vendor: model.vendor, id: model.id, family: model.family, name: model.name };
}

export function rememberedModel(state: vscode.Memento): LanguageModelRef | undefined {
  return state.get<LanguageModelRef>(CHOSEN_MODEL);
}

export async function rememberModel(state: vscode.Memento, model: LanguageModelRef | undefined): Promise<void> {
  await state.update(CHOSEN_MODEL, model);
}

/** The remembered model if VS Code still offers it. */
export async function findModel(ref: LanguageModelRef): Promise<vscode.LanguageModelChat | undefined> {
  return (await vscode.lm.selectChatModels({ vendor: ref.vendor, id: ref.id }))[0];
}

export type LanguageModelProblem = 'no-permission' | 'blocked' | 'not-found' | 'quota' | 'no-image-support' | 'cancelled' | 'empty' | 'failed';

/** Each problem as a code of the one closed set, so it crosses the engine channel as itself (Review Folder asks through it). */
const PROBLEM_CODES: Record<LanguageModelProblem, ErrorCode> = {
  'no-permission': 'auth',
  blocked: 'rate-limited',
  'not-found': 'model-not-found',
  quota: 'rate-limited',
  'no-image-support': 'no-image-support',
  cancelled: 'cancelled',
  empty: 'empty',
  failed: 'server',
};

/** A failure with the message a user reads and the action that fixes it. */
export class LanguageModelAnswerError extends Error {
  readonly code: ErrorCode;

  constructor(
    readonly problem: LanguageModelProblem,
    message: string,
    /** The command that fixes it, if one does. */
    readonly fix?: { title: string; command: string; args?: unknown[] },
  ) {
    super(message);
    this.code = PROBLEM_CODES[problem];
  }
}

const chooseModelFix = () => ({ title: vscode.l10n.t('Choose Answer Model…'), command: 'attentionPrompting.chooseAnswerModel' });

/** Each LanguageModelError case as a clear message with what fixes it. */
export function describeLanguageModelError(e: unknown, model: LanguageModelRef): LanguageModelAnswerError {
  const who = `${model.name} (${model.vendor})`;
  const code = e instanceof vscode.LanguageModelError ? e.code : undefined;
  const detail = e instanceof Error ? e.message : String(e);
  const causeText = e instanceof Error && e.cause instanceof Error ? e.cause.message : '';
  if (code === vscode.LanguageModelError.NoPermissions.name) {
    return new LanguageModelAnswerError(
      'no-permission',
      vscode.l10n.t('Attention Prompting may not use {0}: allow it when VS Code asks, or under Accounts → Manage Language Model Access.', who),
      chooseModelFix(),
    );
  }
  if (code === vscode.LanguageModelError.Blocked.name) {
    return new LanguageModelAnswerError('blocked', vscode.l10n.t('{0} refused the request (blocked: too many requests, or not allowed by policy). Wait a little and ask again, or choose another model.', who), chooseModelFix());
  }
  if (code === vscode.LanguageModelError.NotFound.name) {
    return new LanguageModelAnswerError('not-found', vscode.l10n.t('{0} is no longer available (its extension was disabled, signed out or uninstalled). Choose another model.', who), chooseModelFix());
  }
  if (/quota|rate.?limit|exceeded/i.test(`${code ?? ''} ${detail} ${causeText}`)) {
    return new LanguageModelAnswerError('quota', vscode.l10n.t('{0}: your quota for this model is used up ({1}). Wait for it to reset, raise your plan, or choose another model.', who, detail), chooseModelFix());
  }
  return new LanguageModelAnswerError('failed', vscode.l10n.t('{0} failed: {1}', who, detail || code || 'unknown error'));
}

/** Asks one VS Code language model; the question as text, the image as an image data part. */
export class LanguageModelAnswers implements AnswerProvider {
  readonly kind = 'vscode' as const;
  readonly label: { model: string; where: string };
  private readonly ref: LanguageModelRef;

  constructor(private readonly model: vscode.LanguageModelChat) {
    this.ref = refOf(model);
    this.label = { model: model.name, where: model.vendor };
  }

  async answer(request: AnswerRequest): Promise<AnswerResult> {
    if (request.image && !acceptsImages(this.model)) {
      throw new LanguageModelAnswerError('no-image-support', vscode.l10n.t('{0} ({1}) does not accept images. Choose a model that does.', this.ref.name, this.ref.vendor), chooseModelFix());
    }
    const started = performance.now();
    const parts: Array<vscode.LanguageModelTextPart | vscode.LanguageModelDataPart> = [];
    if (request.image) parts.push(vscode.LanguageModelDataPart.image(request.image.bytes, request.image.mime));
    parts.push(new vscode.LanguageModelTextPart(request.question));
    const cancel = new vscode.CancellationTokenSource();
    const onAbort = () => cancel.cancel();
    request.signal?.addEventListener('abort', onAbort);
    let text = '';
    try {
      if (request.signal?.aborted) throw new LanguageModelAnswerError('cancelled', vscode.l10n.t('Stopped.'));
      const response = await this.model.sendRequest(
        [vscode.LanguageModelChatMessage.User(parts)],
        // VS Code shows this in its consent prompt the first time this extension uses the model.
        { justification: vscode.l10n.t('Attention Prompting sends the masked image and your question to this model to answer it.') },
        cancel.token,
      );
      for await (const chunk of response.text) {
        if (cancel.token.isCancellationRequested) break;
        text += chunk;
        request.onDelta?.(chunk);
      }
      if (cancel.token.isCancellationRequested) throw new LanguageModelAnswerError('cancelled', vscode.l10n.t('Stopped.'));
      if (!text.trim()) throw new LanguageModelAnswerError('empty', vscode.l10n.t('{0} ({1}) returned an empty answer.', this.ref.name, this.ref.vendor));
      return { text, model: this.model.name, elapsedMs: performance.now() - started };
    } catch (e) {
      if (e instanceof LanguageModelAnswerError) throw e;
      if (cancel.token.isCancellationRequested || (e instanceof Error && e.name === 'Canceled')) throw new LanguageModelAnswerError('cancelled', vscode.l10n.t('Stopped.'));
      throw describeLanguageModelError(e, this.ref);
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
      cancel.dispose();
    }
  }
}
