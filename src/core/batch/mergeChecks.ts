/**
 * Whether output folders can be merged into one run: the same settings (settings.json, key by key;
 * a shard's own label apart), shards of one count, and which shards — so how many items — are
 * missing. Without this, shards of different experiments merged silently under the first
 * folder's settings, and 0/2 + 1/3 passed for a complete run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttentionPromptError } from '../errors';
import { RunSettings, SETTINGS_FILE, readRunSettings, settingsDifferences } from './runSettings';
import { Shard, parseShard, shardLabel } from './shards';

export interface MergePlan {
  /** The shard count every sharded folder shares; absent when none is sharded. */
  shardCount?: number;
  /** Shards of that count no folder holds ("2/4"); empty when a folder covers every item. */
  missingShards: string[];
  /** Items (× sweep settings) the folders were to answer, when every folder's summary says. */
  expectedTotal?: number;
  /** The settings differences let through by `allowChangedSettings`, one "folder: key: a → b" each. */
  changedSettings: string[];
}

interface FolderRun {
  folder: string;
  settings?: RunSettings;
  shard?: Shard;
  total?: number;
}

/** Keys that may differ between parts of one run. */
function comparedKey(settings: RunSettings): (key: string) => boolean {
  // Each shard names its own; a sweep's layer is the layer group it wrote last (the sweep itself is compared).
  return (key) => key !== 'shard' && !(key === 'layer' && settings.sweep !== null && settings.sweep !== undefined);
}

function readSummary(folder: string): { shard?: unknown; total?: unknown } {
  const file = path.join(folder, 'summary.json');
  if (!fs.existsSync(file)) return {};
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof s === 'object' && s !== null ? s : {};
  } catch {
    throw new AttentionPromptError('bad-parameter', `merge: ${file} is not JSON; move it away (the merge reads results.jsonl and settings.json) or restore it.`);
  }
}

function folderRun(folder: string): FolderRun {
  const settings = readRunSettings(folder)?.settings;
  const summary = readSummary(folder);
  const label = typeof settings?.shard === 'string' ? settings.shard : typeof summary.shard === 'string' ? summary.shard : undefined;
  let shard: Shard | undefined;
  try {
    shard = label === undefined ? undefined : parseShard(label);
  } catch {
    throw new AttentionPromptError('bad-parameter', `merge: ${folder} names its shard "${label}", which is not i/n; the folder's settings.json or summary.json was edited.`);
  }
  const total = typeof summary.total === 'number' && Number.isInteger(summary.total) && summary.total >= 0 ? summary.total : undefined;
  return { folder, settings, shard, total };
}

/** Checks that `folders` are parts of one run; throws `settings-changed` naming what differs. */
export function planMerge(folders: string[], allowChangedSettings: boolean): MergePlan {
  const runs = folders.map(folderRun);
  const changedSettings: string[] = [];
  const withSettings = runs.filter((r) => r.settings);
  if (withSettings.length && withSettings.length < runs.length) {
    const without = runs.filter((r) => !r.settings).map((r) => r.folder);
    const why = `${without.join(', ')} ha${without.length > 1 ? 've' : 's'} no ${SETTINGS_FILE}, so nothing says ${without.length > 1 ? 'they are' : 'it is'} the same run as ${withSettings[0].folder}`;
    if (!allowChangedSettings) throw new AttentionPromptError('settings-changed', `merge: ${why}. Merge only outputs of one run, or add --allow-changed-settings to merge them anyway.`);
    changedSettings.push(why);
  }
  const reference = withSettings[0];
  for (const r of withSettings.slice(1)) {
    const diffs = settingsDifferences(reference.settings!, r.settings!, comparedKey(reference.settings!));
    if (!diffs.length) continue;
    if (!allowChangedSettings) {
      throw new AttentionPromptError(
        'settings-changed',
        `merge: ${r.folder} was run with different settings than ${reference.folder} (${diffs.join('; ')}). Merge only the shards of one run, or add --allow-changed-settings to mix them in one results file.`,
      );
    }
    changedSettings.push(...diffs.map((d) => `${r.folder}: ${d}`));
  }

  const sharded = runs.filter((r) => r.shard);
  const counts = [...new Set(sharded.map((r) => r.shard!.count))];
  if (counts.length > 1) {
    const list = sharded.map((r) => `${r.folder} is shard ${shardLabel(r.shard!)}`).join(', ');
    throw new AttentionPromptError('bad-parameter', `merge: the folders split the items differently (${list}); shards of different counts do not add up to the items. Rerun the missing shards with one --shard count.`);
  }
  const whole = runs.filter((r) => !r.shard);
  const shardCount = counts[0];
  const held = new Set(sharded.map((r) => r.shard!.index));
  const missingShards = shardCount !== undefined && !whole.length ? Array.from({ length: shardCount }, (_, i) => i).filter((i) => !held.has(i)).map((i) => `${i}/${shardCount}`) : [];

  // A whole run's total is every item; otherwise the shards' totals add up (each shard counted once).
  let expectedTotal: number | undefined;
  if (whole.length) expectedTotal = whole.every((r) => r.total !== undefined) ? Math.max(...whole.map((r) => r.total!)) : undefined;
  else if (!missingShards.length && sharded.every((r) => r.total !== undefined)) {
    const byShard = new Map<number, number>();
    for (const r of sharded) byShard.set(r.shard!.index, Math.max(byShard.get(r.shard!.index) ?? 0, r.total!));
    expectedTotal = [...byShard.values()].reduce((a, b) => a + b, 0);
  }
  return { shardCount, missingShards, expectedTotal, changedSettings };
}
