/**
 * Which source answers: a VS Code language model, the OpenAI-compatible endpoint or the local model. The setting
 * `attentionPrompting.vlm.provider` says which; the VS Code model itself is remembered in global
 * state. The first ask (provider never set) offers the image-capable VS Code models first, then
 * the endpoint and the local model; *Choose Answer Model…* shows the same list at any time.
 */
import * as vscode from 'vscode';
import { endpointHost } from '../core/endpointUrl';
import { SECTION, vlmConfig, vlmProviderSetting } from './config';
import { LanguageModelRef, findModel, imageCapableModels, refOf, rememberModel, rememberedModel } from './languageModels';

export type AnswerSourceChoice = { kind: 'vscode'; model: vscode.LanguageModelChat } | { kind: 'openai' } | { kind: 'local' };

/** The quick pick: image-capable VS Code models (vendor · family), then the endpoint. Undefined when dismissed. */
export async function chooseAnswerSource(context: vscode.ExtensionContext, title = vscode.l10n.t('Where should answers come from?')): Promise<AnswerSourceChoice | undefined> {
  const models = await imageCapableModels();
  const current = vlmProviderSetting();
  const remembered = rememberedModel(context.globalState);
  let endpointLabel: string;
  try {
    endpointLabel = endpointHost(vlmConfig().baseURL);
  } catch {
    endpointLabel = vlmConfig().baseURL;
  }
  type Item = vscode.QuickPickItem & { model?: vscode.LanguageModelChat; endpoint?: true; local?: true };
  const localModel = vscode.workspace.getConfiguration(SECTION).inspect<string>('vlm.localModel')?.globalValue;
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
      detail: current.value === 'openai' ? vscode.l10n.t('current · uses your API key (Set API Key)') : vscode.l10n.t('Uses your API key (Set API Key)'),
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
  const config = vscode.workspace.getConfiguration(SECTION);
  if (pick.local) {
    // The model itself is chosen when it is first needed (ensureLocalModel), so nothing downloads here.
    await config.update('vlm.provider', 'local', vscode.ConfigurationTarget.Global);
    return { kind: 'local' };
  }
  if (pick.model) {
    await rememberModel(context.globalState, refOf(pick.model));
    await config.update('vlm.provider', 'vscode', vscode.ConfigurationTarget.Global);
    return { kind: 'vscode', model: pick.model };
  }
  await config.update('vlm.provider', 'openai', vscode.ConfigurationTarget.Global);
  return { kind: 'openai' };
}

/**
 * The source for the next ask. Undefined (after saying why) when there is none; the first ask
 * lets the user choose, preferring a VS Code model that accepts images when one exists.
 */
export async function resolveAnswerSource(context: vscode.ExtensionContext): Promise<AnswerSourceChoice | undefined> {
  const setting = vlmProviderSetting();
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
      if (c === useEndpoint) void vscode.workspace.getConfiguration(SECTION).update('vlm.provider', 'openai', vscode.ConfigurationTarget.Global);
    });
  return undefined;
}
