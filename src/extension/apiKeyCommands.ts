/** Set API Key… and Clear API Key: the key of the endpoint the user settings name, in SecretStorage only. */
import * as vscode from 'vscode';
import { endpointHost } from '../core/endpointUrl';
import type { ApiKeys } from './apiKeys';
import { registerCommand } from './commands';
import { vlmConfig } from './config';

export function register(context: vscode.ExtensionContext, keys: ApiKeys, log: vscode.LogOutputChannel): void {
  registerCommand(context, 'setApiKey', async () => {
    const host = configuredHost();
    if (!host) return;
    const key = await vscode.window.showInputBox({
      title: vscode.l10n.t('API key for {0}', host),
      prompt: vscode.l10n.t('Stored in VS Code’s secret storage, never in settings. Local servers (Ollama, LM Studio, vLLM) accept any text.'),
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : vscode.l10n.t('Enter a key')),
    });
    if (!key) return;
    await keys.set(host, key);
    log.info(`API key for ${host} stored in secret storage`);
    void vscode.window.showInformationMessage(vscode.l10n.t('API key for {0} saved.', host));
  });
  registerCommand(context, 'clearApiKey', async () => {
    const host = configuredHost();
    if (!host) return;
    await keys.clear(host);
    log.info(`API key for ${host} removed from secret storage`);
    void vscode.window.showInformationMessage(vscode.l10n.t('API key for {0} cleared.', host));
  });
}

/** The host of the endpoint setting; undefined after saying why when the URL is not valid. */
function configuredHost(): string | undefined {
  try {
    return endpointHost(vlmConfig().baseURL);
  } catch (e) {
    void vscode.window.showErrorMessage((e as Error).message);
    return undefined;
  }
}
