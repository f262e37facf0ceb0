/**
 * The one-time confirmation before images and the API key first go to an endpoint other than
 * OpenAI's. Ask and Review Folder both pass through it.
 */
import * as vscode from 'vscode';
import { DEFAULT_BASE_URL } from '../core/defaults';
import { endpointHost } from '../core/endpointUrl';

const CONFIRMED_HOSTS = 'attentionPrompting.confirmedHosts';

export async function confirmEndpoint(context: vscode.ExtensionContext, host: string, baseURL: string): Promise<boolean> {
  if (endpointHost(DEFAULT_BASE_URL) === host) return true;
  const confirmed = context.globalState.get<string[]>(CONFIRMED_HOSTS, []);
  if (confirmed.includes(host)) return true;
  const send = vscode.l10n.t('Send');
  const cancel = vscode.l10n.t('Cancel');
  // A notification rather than a modal dialog: it names the endpoint, waits for an explicit
  // choice, and closing it counts as Cancel.
  const choice = await vscode.window.showWarningMessage(
    vscode.l10n.t('Send images and your API key to {0} ({1})? This endpoint is not OpenAI’s; you will not be asked again for this host.', host, baseURL),
    send,
    cancel,
  );
  if (choice !== send) return false;
  await context.globalState.update(CONFIRMED_HOSTS, [...confirmed, host]);
  return true;
}
