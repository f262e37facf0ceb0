/** Registers one of the extension's commands (`attentionPrompting.<id>`), disposed with the extension. */
import * as vscode from 'vscode';
import { SECTION } from './config';

export function registerCommand(context: vscode.ExtensionContext, id: string, run: (...args: never[]) => unknown): void {
  context.subscriptions.push(vscode.commands.registerCommand(`${SECTION}.${id}`, run));
}
