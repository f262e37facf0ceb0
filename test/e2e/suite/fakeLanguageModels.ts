/**
 * A fake language-model provider (vendor `test`) registered through VS Code's stable
 * `vscode.lm.registerLanguageModelChatProvider` by the e2e suite's own test-only extension
 * (its package.json contributes `languageModelChatProviders`). It records every request — each
 * part's kind, MIME type and bytes — and answers by describing what it received, streamed in
 * pieces; queued faults make it slow or throw each `LanguageModelError` case.
 */
import * as vscode from 'vscode';

export interface RecordedPart {
  kind: 'text' | 'data' | 'other';
  text?: string;
  mime?: string;
  bytes?: Uint8Array;
}

export interface RecordedRequest {
  model: string;
  parts: RecordedPart[];
  cancelled: boolean;
}

export type Fault = { kind: 'slow'; delayMs: number } | { kind: 'NoPermissions' | 'Blocked' | 'NotFound' | 'quota' };

export interface FakeLanguageModels {
  requests: RecordedRequest[];
  faults: Fault[];
}

/** On globalThis: the suite's files are separate bundles, and all must see the same record. */
const shared = globalThis as { __attentionPromptingFakeModels?: FakeLanguageModels };
export const fakeModels: FakeLanguageModels = (shared.__attentionPromptingFakeModels ??= { requests: [], faults: [] });

/**
 * `isDefault` (read by VS Code 1.106 though not in the stable typings): the chat view's model
 * picker lists no model at all unless one registered model is a default (Copilot's would be), and
 * a request then fails with "Language model unavailable".
 */
const MODELS: Array<vscode.LanguageModelChatInformation & { isDefault?: boolean }> = [
  { id: 'test-vision', name: 'Test Vision', family: 'test-vision-family', version: '1', maxInputTokens: 100_000, maxOutputTokens: 4_000, capabilities: { imageInput: true }, isDefault: true },
  { id: 'test-text', name: 'Test Text Only', family: 'test-text-family', version: '1', maxInputTokens: 100_000, maxOutputTokens: 4_000, capabilities: { imageInput: false } },
];

function record(part: unknown): RecordedPart {
  if (part instanceof vscode.LanguageModelTextPart) return { kind: 'text', text: part.value };
  if (part instanceof vscode.LanguageModelDataPart) return { kind: 'data', mime: part.mimeType, bytes: part.data };
  return { kind: 'other' };
}

const sleep = (ms: number, token: vscode.CancellationToken) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    token.onCancellationRequested(() => (clearTimeout(t), resolve()));
  });

export function registerFakeLanguageModels(): vscode.Disposable {
  return vscode.lm.registerLanguageModelChatProvider('test', {
    provideLanguageModelChatInformation: () => MODELS,
    async provideLanguageModelChatResponse(model, messages, _options, progress, token) {
      const recorded: RecordedRequest = { model: model.id, parts: messages.flatMap((m) => m.content.map(record)), cancelled: false };
      fakeModels.requests.push(recorded);
      token.onCancellationRequested(() => (recorded.cancelled = true));
      const fault = fakeModels.faults.shift();
      if (fault?.kind === 'NoPermissions') throw vscode.LanguageModelError.NoPermissions('test: no permission');
      if (fault?.kind === 'Blocked') throw vscode.LanguageModelError.Blocked('test: blocked');
      if (fault?.kind === 'NotFound') throw vscode.LanguageModelError.NotFound('test: not found');
      if (fault?.kind === 'quota') throw new Error('You have exceeded your monthly quota for test-vision');
      const images = recorded.parts.filter((p) => p.kind === 'data' && p.mime?.startsWith('image/'));
      const question = recorded.parts.filter((p) => p.kind === 'text').map((p) => p.text).join(' ');
      const answer = `Test Vision saw ${images.length} image(s) (${images.map((p) => `${p.mime} ${p.bytes?.length} bytes`).join(', ')}). You asked: ${question}`;
      for (const piece of answer.match(/.{1,8}/gs) ?? []) {
        if (token.isCancellationRequested) return;
        if (fault?.kind === 'slow') await sleep(fault.delayMs, token);
        progress.report(new vscode.LanguageModelTextPart(piece));
      }
    },
    provideTokenCount: async (_model, text) => (typeof text === 'string' ? Math.ceil(text.length / 4) : 100),
  });
}
