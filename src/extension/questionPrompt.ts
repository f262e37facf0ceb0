/** The question box: a quick pick that offers earlier questions and remembers new ones. */
import * as path from 'node:path';
import * as vscode from 'vscode';

const HISTORY_KEY = 'attentionPrompting.questionHistory';
const HISTORY_SIZE = 20;

export async function promptQuestion(context: vscode.ExtensionContext, images: vscode.Uri[]): Promise<string | undefined> {
  const history = context.globalState.get<string[]>(HISTORY_KEY, []);
  const pick = vscode.window.createQuickPick();
  pick.title = images.length === 1 ? vscode.l10n.t('Ask about {0}', path.basename(images[0].fsPath)) : vscode.l10n.t('Ask about {0} images', images.length);
  pick.placeholder = vscode.l10n.t('Type a question about the image (earlier questions below)');
  pick.items = history.map((label) => ({ label }));
  pick.ignoreFocusOut = true;
  const question = await new Promise<string | undefined>((resolve) => {
    pick.onDidAccept(() => {
      const value = (pick.selectedItems[0]?.label ?? pick.value).trim();
      if (!value) return; // keep the box open until there is a question
      resolve(value);
      pick.hide();
    });
    // Typing a new question must not be replaced by a highlighted history item on Enter.
    pick.onDidChangeValue((v) => {
      pick.items = [...(v.trim() && !history.includes(v.trim()) ? [{ label: v.trim(), description: vscode.l10n.t('new question') }] : []), ...history.map((label) => ({ label }))];
    });
    pick.onDidHide(() => resolve(undefined));
    pick.show();
  });
  pick.dispose();
  if (question) await context.globalState.update(HISTORY_KEY, [question, ...history.filter((h) => h !== question)].slice(0, HISTORY_SIZE));
  return question;
}
