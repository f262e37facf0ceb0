/**
 * The @attention chat participant (package.json contributes.chatParticipants): a question with an
 * image — a `#file:` reference to an image, or one attached or pasted into the chat — gets the
 * heatmap (an overlay preview in the response and a button that opens the heatmap panel), then
 * an answer from the model picked in the chat (`request.model`) given the masked image, streamed;
 * `/compare` (also offered as a follow-up) answers the last question on the original image.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AnswerImage } from '../core/answerProvider';
import { hasImageExtension } from '../core/defaults';
import { errorCodeOf } from '../shared/rpc';
import { imageRendering, languageModelSource } from './answerSource';
import type { EngineClient } from './engineClient';
import { LanguageModelAnswerError } from './languageModels';
import { describeMask, maskForQuestion, workspaceImage } from './maskForQuestion';
import { escapeMarkdown, markdownImage } from './markdownText';

export const CHAT_PARTICIPANT_ID = 'attentionPrompting.attention';
export const OPEN_HEATMAP_COMMAND = 'attentionPrompting.openHeatmapFor';

/** What a turn leaves for the follow-up: the image and question it answered. */
interface TurnMetadata {
  imagePath: string;
  question: string;
}

interface Deps {
  context: vscode.ExtensionContext;
  engine: EngineClient;
  log: vscode.LogOutputChannel;
}

const MIME_EXTENSIONS: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'image/bmp': 'bmp', 'image/tiff': 'tiff' };

/** An attached or pasted image: VS Code hands its bytes as an object with a MIME type and `data()`. */
function binaryImage(value: unknown): { mimeType: string; data(): Thenable<Uint8Array> } | undefined {
  const v = value as { mimeType?: unknown; data?: unknown } | undefined;
  return v && typeof v.mimeType === 'string' && v.mimeType in MIME_EXTENSIONS && typeof v.data === 'function' ? (v as { mimeType: string; data(): Thenable<Uint8Array> }) : undefined;
}

/**
 * The first image among the request's references, as a file the engine can read. A `#file:`
 * reference gets the agent tool's checks (inside the workspace, also after links; the string is
 * checked before the file is touched); an attached or pasted image is saved in our storage.
 */
export async function imageFromReferences(references: readonly vscode.ChatPromptReference[], storage: vscode.Uri): Promise<string | undefined> {
  for (const ref of references) {
    const uri = ref.value instanceof vscode.Uri ? ref.value : ref.value instanceof vscode.Location ? ref.value.uri : undefined;
    if (uri?.scheme === 'file' && hasImageExtension(uri.fsPath)) return workspaceImage(uri.fsPath);
    const binary = binaryImage(ref.value);
    if (binary) {
      const bytes = await binary.data();
      const dir = path.join(storage.fsPath, 'chat-images');
      await fs.promises.mkdir(dir, { recursive: true });
      const file = path.join(dir, `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${MIME_EXTENSIONS[binary.mimeType]}`);
      if (!fs.existsSync(file)) await fs.promises.writeFile(file, bytes);
      return file;
    }
  }
  return undefined;
}

/** The question without the `#file:…` references VS Code leaves in the prompt text. */
function questionOf(request: vscode.ChatRequest): string {
  let prompt = request.prompt;
  for (const ref of [...request.references].filter((r) => r.range).sort((a, b) => b.range![0] - a.range![0])) prompt = prompt.slice(0, ref.range![0]) + prompt.slice(ref.range![1]);
  return prompt.replace(/\s+/g, ' ').trim();
}

function lastTurn(history: vscode.ChatContext['history']): TurnMetadata | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const turn = history[i];
    const meta = turn instanceof vscode.ChatResponseTurn ? (turn.result.metadata as TurnMetadata | undefined) : undefined;
    if (meta?.imagePath && meta.question) return meta;
  }
  return undefined;
}

export function chatHandler(deps: Deps): vscode.ChatRequestHandler {
  return async (request, chatContext, stream, token) => {
    const controller = new AbortController();
    const cancel = token.onCancellationRequested(() => controller.abort());
    try {
      let imagePath: string | undefined;
      let question: string;
      if (request.command === 'compare') {
        const last = lastTurn(chatContext.history);
        if (!last) {
          stream.markdown(vscode.l10n.t('Nothing to compare yet: ask about an image first, for example `@attention what is written on the sign? #file:photo.jpg`.'));
          return {};
        }
        ({ imagePath, question } = last);
      } else {
        imagePath = await imageFromReferences(request.references, deps.context.globalStorageUri);
        question = questionOf(request);
      }
      if (!imagePath) {
        stream.markdown(vscode.l10n.t('Attach an image to ask about: add `#file:photo.jpg` to your question, drag an image into the chat, or paste one. For example: `@attention what is written on the sign? #file:photo.jpg`'));
        return {};
      }
      if (!question) {
        stream.markdown(vscode.l10n.t('Ask a question about {0}, for example `@attention what is written on the sign?` with the image attached.', escapeMarkdown(path.basename(imagePath))));
        return {};
      }
      stream.progress(vscode.l10n.t('Computing the heatmap of {0}…', escapeMarkdown(path.basename(imagePath))));
      const masked = await maskForQuestion(deps, imagePath, question, '', controller.signal);
      const metadata: TurnMetadata = { imagePath, question };
      if (request.command !== 'compare') {
        // Inline (data:), not a file: URI: a remote or web workbench (code-server, Remote-SSH) refuses
        // to load the extension host's local files ("Not allowed to load local resource").
        const preview = `data:image/png;base64,${Buffer.from(masked.previews.overlay).toString('base64')}`;
        // File names and the question are text: escaped, they cannot add a link or an image.
        stream.markdown(new vscode.MarkdownString(markdownImage(vscode.l10n.t('Heatmap of {0}', path.basename(imagePath)), preview) + '\n\n'));
        stream.markdown(escapeMarkdown(describeMask(masked)) + '\n\n');
        stream.button({ command: OPEN_HEATMAP_COMMAND, title: vscode.l10n.t('Open the Heatmap Panel'), arguments: [vscode.Uri.file(imagePath), question] });
      }
      if (!vscode.workspace.isTrusted) {
        stream.markdown(vscode.l10n.t('Restricted Mode: the image is not sent to {0}. Trust the workspace to get an answer; the heatmap above was computed on this machine.', request.model.name));
        return { metadata };
      }
      const source = languageModelSource(request.model);
      let image: AnswerImage = masked.masked;
      if (request.command === 'compare') {
        image = await deps.engine.request('payload', { attributionId: masked.summary.attributionId, view: masked.view, which: 'original', ...imageRendering(source.settings) }, { signal: controller.signal });
        stream.markdown(vscode.l10n.t('**{0} on the original image:**', request.model.name) + '\n\n');
      } else {
        stream.markdown(vscode.l10n.t('**{0} on the masked image:**', request.model.name) + '\n\n');
      }
      await source.model.answer({ question, image, signal: controller.signal, onDelta: (d) => stream.markdown(d) });
      return { metadata };
    } catch (e) {
      if (controller.signal.aborted || errorCodeOf(e) === 'cancelled' || (e instanceof LanguageModelAnswerError && e.problem === 'cancelled')) return {};
      const message = e instanceof Error ? e.message : String(e);
      deps.log.warn(`@attention: ${message}`);
      // The chat renders error details as markdown; messages name files and models: text only.
      if (e instanceof LanguageModelAnswerError && e.problem === 'no-image-support') {
        return { errorDetails: { message: escapeMarkdown(vscode.l10n.t('{0} does not accept images: pick a model that does in the chat’s model picker.', request.model.name)) } };
      }
      return { errorDetails: { message: escapeMarkdown(message) } };
    } finally {
      cancel.dispose();
    }
  };
}

/** After an answer: the same question on the original image. */
export function chatFollowups(result: vscode.ChatResult): vscode.ChatFollowup[] {
  return (result.metadata as TurnMetadata | undefined)?.imagePath ? [{ prompt: vscode.l10n.t('Compare with the original image'), label: vscode.l10n.t('Compare with the original image'), command: 'compare' }] : [];
}

export function register(deps: Deps): void {
  const participant = vscode.chat.createChatParticipant(CHAT_PARTICIPANT_ID, chatHandler(deps));
  participant.iconPath = vscode.Uri.joinPath(deps.context.extensionUri, 'media', 'icon.png');
  participant.followupProvider = { provideFollowups: (result) => chatFollowups(result) };
  deps.context.subscriptions.push(participant);
}
