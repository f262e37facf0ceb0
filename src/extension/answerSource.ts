/**
 * Who answers, resolved in this one place for Ask, Review Folder and Choose Answer Model…: the
 * setting `attentionPrompting.answers.source` (or, while the user never set it, their choice on the
 * first ask) becomes a ready source — a VS Code language model, the OpenAI-compatible endpoint with
 * its key and the user's consent to its host, or the local model — with the label that history,
 * results and logs show. The VS Code model itself is remembered in global state. The first ask
 * offers the image-capable VS Code models first, then the endpoint and the local model; Choose
 * Answer Model… shows the same list at any time.
 */
import * as vscode from 'vscode';
import type { AnswerProvider } from '../core/answerProvider';
import type { VlmRunSettings, VlmSettings } from '../core/defaults';
import { endpointHost } from '../core/endpointUrl';
import type { AnswerSource, LocalModelParameters } from '../shared/protocol';
import type { ApiKeys } from './apiKeys';
import { answerSourceSetting, chosenLocalModel, setAnswerSource, vlmConfig } from './config';
import { confirmEndpoint } from './endpointConsent';
import { LanguageModelRef, LanguageModelAnswers, findModel, imageCapableModels, refOf, rememberModel, rememberedModel } from './languageModels';
import { registerCommand } from './commands';
import { ensureLocalModel } from './localModel';

export function register(context: vscode.ExtensionContext): void {
  registerCommand(context, 'chooseAnswerModel', () => chooseAnswerSource(context));
}

type AnswerSourceChoice = { kind: 'vscode'; model: vscode.LanguageModelChat } | { kind: 'openai' } | { kind: 'local' };

/** The quick pick: image-capable VS Code models (vendor · family), then the endpoint. Undefined when dismissed. */
export async function chooseAnswerSource(context: vscode.ExtensionContext, title = vscode.l10n.t('Where should answers come from?')): Promise<AnswerSourceChoice | undefined> {
  const models = await imageCapableModels();
  const current = answerSourceSetting();
  const remembered = rememberedModel(context.globalState);
  let endpointLabel: string;
  try {
    endpointLabel = endpointHost(vlmConfig().baseURL);
  } catch {
    endpointLabel = vlmConfig().baseURL;
  }
  type Item = vscode.QuickPickItem & { model?: vscode.LanguageModelChat; endpoint?: true; local?: true };
  const localModel = chosenLocalModel();
  const items: Item[] = [
    { label: vscode.l10n.t('VS Code language models'), kind: vscode.QuickPickItemKind.Separator },
    ...models.map((m) => ({
      label: m.name,
      description: `${m.vendor} · ${m.family}`,
      detail: current.value === 'vscode' && remembered?.vendor === m.vendor && remembered.id === m.id ? vscode.l10n.t('current · no API key; VS Code asks once before this extension may use it') : vscode.l10n.t('No API key; VS Code asks once before this extension may use it'),
      model: m,
    })),
    ...(models.length ? [] : [{ label: vscode.l10n.t('No model here accepts images (install GitHub Copilot Chat, or another model provider)'), description: '', alwaysShow: true } as Item]),
    { label: vscode.l10n.t('Endpoint'), kind: vscode.QuickPickItemKind.Separator },
    {
      label: vscode.l10n.t('OpenAI-compatible endpoint'),
      description: `${vlmConfig().model} · ${endpointLabel}`,
      detail: current.value === 'openai' ? vscode.l10n.t('current · uses your API key (Set API Key…)') : vscode.l10n.t('Uses your API key (Set API Key…)'),
      endpoint: true,
    },
    { label: vscode.l10n.t('This machine'), kind: vscode.QuickPickItemKind.Separator },
    {
      label: vscode.l10n.t('Local vision-language model'),
      description: localModel || vscode.l10n.t('chosen next (nothing is downloaded before)'),
      detail: current.value === 'local' ? vscode.l10n.t('current · no endpoint, no key; nothing leaves this machine') : vscode.l10n.t('No endpoint, no key; nothing leaves this machine'),
      local: true,
    },
  ];
  const pick = await vscode.window.showQuickPick(items, { title, placeHolder: vscode.l10n.t('Models that accept images, the endpoint, or a model on this machine'), ignoreFocusOut: true });
  if (!pick || (!pick.model && !pick.endpoint && !pick.local)) return undefined;
  if (pick.local) {
    // The model itself is chosen when it is first needed (ensureLocalModel), so nothing downloads here.
    await setAnswerSource('local');
    return { kind: 'local' };
  }
  if (pick.model) {
    await rememberModel(context.globalState, refOf(pick.model));
    await setAnswerSource('vscode');
    return { kind: 'vscode', model: pick.model };
  }
  await setAnswerSource('openai');
  return { kind: 'openai' };
}

/**
 * The source for the next ask. Undefined (after saying why) when there is none; the first ask
 * lets the user choose, preferring a VS Code model that accepts images when one exists.
 */
async function chosenAnswerSource(context: vscode.ExtensionContext): Promise<AnswerSourceChoice | undefined> {
  const setting = answerSourceSetting();
  if (!setting.explicit) {
    // First run: with no VS Code model that accepts images, the endpoint is today's behaviour.
    if (!(await imageCapableModels()).length) return { kind: 'openai' };
    return chooseAnswerSource(context, vscode.l10n.t('Choose who answers (you can change it with Choose Answer Model…)'));
  }
  if (setting.value === 'openai') return { kind: 'openai' };
  if (setting.value === 'local') return { kind: 'local' };
  const remembered: LanguageModelRef | undefined = rememberedModel(context.globalState);
  const model = remembered && (await findModel(remembered));
  if (model) return { kind: 'vscode', model };
  if ((await imageCapableModels()).length) {
    return chooseAnswerSource(
      context,
      remembered ? vscode.l10n.t('{0} ({1}) is no longer available: choose another model', remembered.name, remembered.vendor) : vscode.l10n.t('Choose a VS Code model for answers'),
    );
  }
  const useEndpoint = vscode.l10n.t('Use the Endpoint');
  void vscode.window
    .showErrorMessage(vscode.l10n.t('No VS Code language model that accepts images is available. Install GitHub Copilot Chat (or another model provider), or use an OpenAI-compatible endpoint.'), useEndpoint)
    .then((c) => {
      if (c === useEndpoint) void setAnswerSource('openai');
    });
  return undefined;
}

/** A source ready to answer: its checks done, its key (endpoint only) fetched. */
export type ReadyAnswerSource = {
  /** For history, results and logs: the model, and where it runs (endpoint host, vendor, "this machine"). */
  label: AnswerProvider['label'];
  /** The VLM settings of this ask or run; `apiKey` is the endpoint's key, empty for the other sources (no key leaves for them). */
  settings: VlmRunSettings;
} & ({ kind: 'vscode'; model: LanguageModelAnswers } | { kind: 'openai' } | { kind: 'local'; local: LocalModelParameters });

/**
 * The source the settings (or the user's first choice) name, ready: a trusted workspace; for the
 * endpoint its key and the one-time consent to its host (nothing is sent to a new host before);
 * for the local model a chosen model (nothing downloads before). Undefined, after telling the user
 * why and what to do, when there is none.
 */
export async function readyAnswerSource(context: vscode.ExtensionContext, keys: ApiKeys, log: vscode.LogOutputChannel): Promise<ReadyAnswerSource | undefined> {
  if (!vscode.workspace.isTrusted) {
    const manage = vscode.l10n.t('Manage Workspace Trust');
    // Not awaited: the ask ends now; the button stays available on the notification.
    void vscode.window
      .showWarningMessage(vscode.l10n.t('Sending images to a vision-language model needs a trusted workspace. Heatmaps work in Restricted Mode.'), manage)
      .then((choice) => choice === manage && vscode.commands.executeCommand('workbench.trust.manage'));
    return undefined;
  }
  const choice = await chosenAnswerSource(context);
  if (!choice) return undefined;
  const config = vlmConfig();
  if (choice.kind === 'vscode') return languageModelSource(choice.model);
  if (choice.kind === 'local') {
    // Nothing leaves the machine: the engine process runs the local model.
    const local = await ensureLocalModel(context);
    if (!local) return undefined;
    return { kind: 'local', local, label: { model: local.model, where: vscode.l10n.t('this machine') }, settings: { ...config, apiKey: '' } };
  }
  let host: string;
  try {
    host = endpointHost(config.baseURL);
  } catch (e) {
    showEndpointError(e);
    return undefined;
  }
  const key = await endpointKey(keys, host);
  if (!key) {
    const setKey = vscode.l10n.t('Set API Key…');
    void vscode.window
      .showErrorMessage(vscode.l10n.t('No API key for {0}. Set one (local servers such as Ollama accept any text).', host), setKey)
      .then((c) => c === setKey && vscode.commands.executeCommand('attentionPrompting.setApiKey'));
    return undefined;
  }
  if (!(await confirmEndpoint(context, host, config.baseURL))) return undefined;
  log.info(`endpoint ${host}: key from ${key.source}`);
  return { kind: 'openai', label: { model: config.model, where: host }, settings: { ...config, apiKey: key.key } };
}

/**
 * A VS Code language model as a ready source: the one Ask and Review Folder resolve, or the one
 * picked in the chat for the @attention participant. No key and no host confirmation: VS Code
 * asks its own consent before this extension's first request.
 */
export function languageModelSource(chat: vscode.LanguageModelChat): ReadyAnswerSource & { kind: 'vscode' } {
  const model = new LanguageModelAnswers(chat);
  return { kind: 'vscode', model, label: model.label, settings: { ...vlmConfig(), apiKey: '' } };
}

/** How the image a model receives is rendered (settings vlm.maxImageSide, vlm.imageFormat), the same for every source and the agent tool. */
export function imageRendering(settings: Pick<VlmRunSettings, 'maxImageSide' | 'imageFormat'> = vlmConfig()): { maxSide: number; format: VlmRunSettings['imageFormat'] } {
  return { maxSide: settings.maxImageSide, format: settings.imageFormat };
}

/** The endpoint's key (SecretStorage, else OPENAI_API_KEY): the one place it is fetched. */
function endpointKey(keys: ApiKeys, host: string): ReturnType<ApiKeys['get']> {
  return keys.get(host);
}

/**
 * Where answers would go, said before a run starts (its source is made ready when it starts): the
 * kind the setting names, and for the endpoint its host and whether a key is there for it.
 */
export async function answerSourcePreview(keys: ApiKeys): Promise<{ kind: 'vscode' } | { kind: 'local' } | { kind: 'openai'; host: string; hasKey: boolean }> {
  const kind = answerSourceSetting().value;
  if (kind === 'vscode' || kind === 'local') return { kind };
  const host = endpointHost(vlmConfig().baseURL);
  return { kind, host, hasKey: !!(await endpointKey(keys, host)) };
}

/** What the engine process is told to ask for one image (a VS Code model answers in this host, through the engine's request back). */
export function engineAnswerSource(source: ReadyAnswerSource): AnswerSource {
  if (source.kind === 'vscode') return { kind: 'vscode' };
  if (source.kind === 'local') return { kind: 'local', model: source.local, maxTokens: source.settings.maxTokens };
  // The client's settings only: how the image is rendered was settled before it reaches the engine's answer.
  const { compareWithOriginal, maxImageSide, imageFormat, ...endpoint } = source.settings;
  void [compareWithOriginal, maxImageSide, imageFormat];
  const settings: VlmSettings = endpoint;
  return { kind: 'openai', endpoint: settings };
}

function showEndpointError(e: unknown): void {
  const openSettings = vscode.l10n.t('Open Settings');
  void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e), openSettings).then((c) => {
    if (c === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionPrompting.answers');
  });
}
