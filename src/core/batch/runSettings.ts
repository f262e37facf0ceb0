/**
 * settings.json in the output folder: what a run's answers depend on (input, default question and
 * hint, model, layer, mask parameters, VLM model and endpoint). A --resume with different settings
 * would mix two experiments in one results file, so it is refused unless asked for
 * (`allowChangedSettings`); an accepted change is kept in the file's history.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from '../atomicWrite';
import { AttentionPromptError } from '../errors';
import { inputKind } from './inputs';

export const SETTINGS_FILE = 'settings.json';

/** Every value is a string, number, boolean or null, so two settings compare key by key. */
export type RunSettings = Record<string, string | number | boolean | null>;

interface SettingsFile {
  settings: RunSettings;
  /** Earlier settings of this folder, when a resume changed them on purpose. */
  history?: Array<{ until: string; settings: RunSettings }>;
}

export function readRunSettings(outDir: string): SettingsFile | undefined {
  const file = path.join(outDir, SETTINGS_FILE);
  if (!fs.existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as SettingsFile;
    if (parsed && typeof parsed.settings === 'object' && parsed.settings) return parsed;
  } catch {
    // fall through
  }
  throw new AttentionPromptError('bad-parameter', `${file} is not a settings file this tool wrote; move it away to resume.`);
}

/** "key: before → after" for every setting that differs (keys in `only`, when given). */
export function settingsDifferences(before: RunSettings, after: RunSettings, only?: (key: string) => boolean): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !only || only(k));
  const show = (v: unknown) => (v === undefined || v === null ? 'unset' : JSON.stringify(v));
  return keys.filter((k) => (before[k] ?? null) !== (after[k] ?? null)).map((k) => `${k}: ${show(before[k])} → ${show(after[k])}`);
}

/** Refuses a resume whose settings differ from the recorded ones, unless explicitly allowed. */
export function checkResumeSettings(outDir: string, requested: RunSettings, allowChanged: boolean, only?: (key: string) => boolean): void {
  const recorded = readRunSettings(outDir);
  if (!recorded || allowChanged) return;
  const diffs = settingsDifferences(recorded.settings, requested, only);
  if (diffs.length) {
    throw new AttentionPromptError(
      'settings-changed',
      `--resume with different settings than the run in ${outDir} (${diffs.join('; ')}): use the same settings, another --out folder, or --allow-changed-settings to mix them in one results file.`,
    );
  }
}

/** Records the settings (atomically), keeping earlier different ones in the history. */
export function writeRunSettings(outDir: string, settings: RunSettings): void {
  const file = path.join(outDir, SETTINGS_FILE);
  const previous = fs.existsSync(file) ? readRunSettings(outDir) : undefined;
  const history = previous?.history ?? [];
  if (previous && settingsDifferences(previous.settings, settings).length) history.push({ until: new Date().toISOString(), settings: previous.settings });
  const next: SettingsFile = history.length ? { settings, history } : { settings };
  writeFileAtomicSync(file, JSON.stringify(next, null, 2) + '\n');
}

/** What a Review Folder… run asked for, read back from its settings (so the extension can resume it from the folder alone). */
export interface ReviewOfRun {
  /** The dataset folder or the JSONL file of questions. */
  input: string;
  jsonl: boolean;
  question?: string;
  /** Whether the run asked a VLM (which one is chosen again, from the current settings, when it resumes). */
  withVlm: boolean;
}

/**
 * The review a run's settings describe. Throws, saying why, for runs Review Folder… cannot have
 * made (options only the CLI sets, an input that is not a folder or a JSONL file) or an edited file.
 */
export function reviewOfRun(settings: RunSettings): ReviewOfRun {
  const { input, question, answers } = settings;
  if (typeof input !== 'string' || !path.isAbsolute(input)) throw new AttentionPromptError('bad-parameter', 'its settings name no input');
  // Files written before a key existed lack it: absent reads as unset.
  const cliOnly = ['hint', 'referenceDataset', 'shard', 'sweep'].filter((k) => settings[k] !== undefined && settings[k] !== null);
  if (settings.judge === true) cliOnly.push('judge');
  if (cliOnly.length) throw new AttentionPromptError('bad-parameter', `the run used ${cliOnly.join(', ')}, which only the CLI sets (attention-prompt batch --resume)`);
  const kind = inputKind(input);
  if (kind !== 'folder' && kind !== 'jsonl') throw new AttentionPromptError('bad-parameter', `its input ${input} is a ${kind}, which only the CLI reads`);
  if (question !== undefined && question !== null && typeof question !== 'string') throw new AttentionPromptError('bad-parameter', 'its question is not text');
  if (kind === 'folder' && typeof question !== 'string') throw new AttentionPromptError('bad-parameter', 'its settings have no question for the images');
  if (answers !== undefined && answers !== null && typeof answers !== 'string') throw new AttentionPromptError('bad-parameter', 'its answer source is not a name');
  return { input, jsonl: kind === 'jsonl', ...(typeof question === 'string' ? { question } : {}), withVlm: typeof answers === 'string' };
}
