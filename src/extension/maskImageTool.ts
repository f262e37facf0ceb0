/**
 * The agent-mode tool "mask an image for a question" (package.json contributes.languageModelTools,
 * registered with vscode.lm.registerTool): a workspace image, a question and an optional hint in;
 * the masked image as an image part and one sentence on the favoured region out, so the agent's
 * model can look at the masked image itself. CLIP runs on this machine; the result goes to
 * whichever model called the tool, so nothing is returned from an untrusted workspace.
 */
import * as vscode from 'vscode';
import type { EngineClient } from './engineClient';
import { escapeMarkdown } from './markdownText';
import { describeMask, maskForQuestion, workspaceImage } from './maskForQuestion';

export const MASK_IMAGE_TOOL = 'attentionPrompting_maskImage';

export interface MaskImageInput {
  path: string;
  question: string;
  hint?: string;
}

/** The input as the model sent it, checked field by field (it is model output, not ours). */
export function checkToolInput(input: unknown): MaskImageInput {
  const o = (input ?? {}) as Record<string, unknown>;
  if (typeof o.path !== 'string' || !o.path.trim()) throw new Error(vscode.l10n.t('The input needs "path": a workspace image (for example "images/photo.png").'));
  if (typeof o.question !== 'string' || !o.question.trim()) throw new Error(vscode.l10n.t('The input needs "question": what to ask about the image.'));
  if (o.hint !== undefined && typeof o.hint !== 'string') throw new Error(vscode.l10n.t('"hint", when given, must be text.'));
  return { path: o.path, question: o.question.trim(), hint: (o.hint as string | undefined)?.trim() || undefined };
}

/** The checked input and the image's real path; throws the reason the call cannot run. */
async function usableInput(raw: unknown): Promise<{ input: MaskImageInput; imagePath: string }> {
  if (!vscode.workspace.isTrusted) {
    // The result would go to the agent's model: the same rule as Ask in Restricted Mode.
    throw new Error(vscode.l10n.t('Attention Prompting does not return workspace images to a model in Restricted Mode. Trust the workspace to use this tool; heatmaps still work in the heatmap panel.'));
  }
  const input = checkToolInput(raw);
  return { input, imagePath: await workspaceImage(input.path) };
}

export function register(deps: { context: vscode.ExtensionContext; engine: EngineClient; log: vscode.LogOutputChannel }): void {
  deps.context.subscriptions.push(vscode.lm.registerTool(MASK_IMAGE_TOOL, new MaskImageTool(deps)));
}

export class MaskImageTool implements vscode.LanguageModelTool<MaskImageInput> {
  constructor(private readonly deps: { context: vscode.ExtensionContext; engine: EngineClient; log: vscode.LogOutputChannel }) {}

  /**
   * Refusals come before anything runs. No confirmation of our own: the tool only reads an image
   * inside the workspace (paths outside are refused, not confirmed) and writes nothing, which is
   * what VS Code runs without asking; a user who wants to be asked each time sets
   * `chat.tools.eligibleForAutoApproval` for it to false and VS Code adds its confirmation. The
   * progress message names the file and the question.
   */
  async prepareInvocation(options: vscode.LanguageModelToolInvocationPrepareOptions<MaskImageInput>): Promise<vscode.PreparedToolInvocation> {
    const { input, imagePath } = await usableInput(options.input);
    // Rendered as markdown: the file name and the question (model output) are escaped text.
    const message = vscode.l10n.t('Masking {0} for “{1}” (CLIP on this machine)', vscode.workspace.asRelativePath(imagePath), input.question);
    return { invocationMessage: new vscode.MarkdownString(escapeMarkdown(message)) };
  }

  async invoke(options: vscode.LanguageModelToolInvocationOptions<MaskImageInput>, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const { input, imagePath } = await usableInput(options.input);
    const controller = new AbortController();
    const cancel = token.onCancellationRequested(() => controller.abort());
    try {
      const result = await maskForQuestion(this.deps, imagePath, input.question, input.hint ?? '', controller.signal);
      this.deps.log.info(`tool ${MASK_IMAGE_TOOL}: ${imagePath} (${result.masked.bytes.length} bytes, ${result.masked.mime})`);
      return new vscode.LanguageModelToolResult([vscode.LanguageModelDataPart.image(result.masked.bytes, result.masked.mime), new vscode.LanguageModelTextPart(describeMask(result))]);
    } finally {
      cancel.dispose();
    }
  }
}
