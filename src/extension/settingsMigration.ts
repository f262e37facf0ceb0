/**
 * Moves the values of renamed settings (settingRenames.ts) to their new keys, at activation: each
 * layer that may hold the key (the user settings always; a workspace's only for window-scoped
 * keys, and only once the workspace is trusted, so an untrusted repository's files are never
 * edited). A value already under the new key is the newer choice and wins. The old key is removed
 * only after the new one is written, so a refused write loses nothing: the next start tries again.
 */
import * as vscode from 'vscode';
import { SECTION, type SettingsLayer, settingIn, writeSettingIn } from './config';
import { SETTING_RENAMES, type SettingRename } from './settingRenames';

const LAYER_NAMES: Record<SettingsLayer, string> = { user: 'user settings', workspace: 'workspace settings' };

/** One line for the log: `warn` when a value could not be moved. */
export interface MigrationNote {
  level: 'info' | 'warn';
  message: string;
}

/** One note per key moved, kept or not moved (none when there was nothing to do). */
export async function migrateRenamedSettings(renames: readonly SettingRename[] = SETTING_RENAMES): Promise<MigrationNote[]> {
  const log: MigrationNote[] = [];
  for (const rename of renames) {
    const layers: SettingsLayer[] = rename.workspaceMayHold && vscode.workspace.isTrusted ? ['user', 'workspace'] : ['user'];
    for (const layer of layers) {
      const line = await moveOne(rename, layer);
      if (line) log.push(line);
    }
  }
  return log;
}

async function moveOne({ from, to }: SettingRename, layer: SettingsLayer): Promise<MigrationNote | undefined> {
  const old = settingIn(layer, from);
  if (old === undefined) return undefined;
  const current = settingIn(layer, to);
  const [oldKey, newKey, where] = [`${SECTION}.${from}`, `${SECTION}.${to}`, LAYER_NAMES[layer]];
  try {
    if (current === undefined) await writeSettingIn(layer, to, old);
    await writeSettingIn(layer, from, undefined);
  } catch (e) {
    const message =
      `Setting ${oldKey} was renamed ${newKey}; could not move ${oldKey} in the ${where}: ${e instanceof Error ? e.message : String(e)} ` +
      `Nothing was lost: the old value ${JSON.stringify(old)} stays there. Correct the settings file, or set ${newKey} yourself. It is moved the next time the extension starts.`;
    return { level: 'warn', message };
  }
  const message =
    current === undefined
      ? `Setting ${oldKey} (${where}) moved to its new name ${newKey} = ${JSON.stringify(old)}.`
      : `Setting ${oldKey} (${where}) removed: its new name is set already, kept ${newKey} = ${JSON.stringify(current)} (the old value was ${JSON.stringify(old)}).`;
  return { level: 'info', message };
}
