/**
 * Whether output folders can be merged into one run: the same settings (settings.json, key by key;
 * a shard's own label apart), shards of one count, and which shards — so how many items — are
 * missing. Without this, shards of different experiments merged silently under the first
 * folder's settings, and 0/2 + 1/3 passed for a complete run. A merged folder records the shared
 * settings, the shards it holds and their totals, so it merges again with the remaining shards.
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
  /** Items per shard ("0/4": 250), kept in the merged summary so a later merge can still count what is missing. */
  shardTotals?: Record<string, number>;
  /** The settings every folder shares (shard label cleared): what the merged folder records; absent when they differ or are unknown. */
  settings?: RunSettings;
}

interface FolderRun {
  folder: string;
  settings?: RunSettings;
  /** The shards the folder holds: one for a shard's run, several for an earlier merge of shards, none for a whole run. */
  shards: Shard[];
  total?: number;
  /** Items per shard index, as the shard's summary (or an earlier merge's shardTotals) counts them. */
  shardTotals: Map<number, number>;
}

/** Keys that may differ between parts of one run. */
function comparedKey(settings: RunSettings): (key: string) => boolean {
  // Each shard names its own; a sweep's layer is the layer group it wrote last (the sweep itself is compared).
  return (key) => key !== 'shard' && !(key === 'layer' && settings.sweep !== null && settings.sweep !== undefined);
}

function readSummary(folder: string): { shard?: unknown; total?: unknown; mergedFrom?: unknown; shardTotals?: unknown } {
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
  let settings: RunSettings | undefined;
  try {
    settings = readRunSettings(folder)?.settings;
  } catch {
    throw new AttentionPromptError('bad-parameter', `merge: ${path.join(folder, SETTINGS_FILE)} is not a settings file this tool wrote; restore it, or move it away and add --allow-changed-settings.`);
  }
  const summary = readSummary(folder);
  const shardOf = (label: string): Shard => {
    try {
      return parseShard(label);
    } catch {
      throw new AttentionPromptError('bad-parameter', `merge: ${folder} names its shard "${label}", which is not i/n; the folder's settings.json or summary.json was edited.`);
    }
  };
  const label = typeof settings?.shard === 'string' ? settings.shard : typeof summary.shard === 'string' ? summary.shard : undefined;
  // An earlier merge holds the shards it was made from (a whole run among them makes it whole).
  const parts = Array.isArray(summary.mergedFrom) ? summary.mergedFrom.map((m) => (typeof m?.shard === 'string' ? m.shard : undefined)) : [];
  const shards = label !== undefined ? [shardOf(label)] : parts.length && parts.every((l) => l !== undefined) ? parts.map((l) => shardOf(l!)) : [];
  const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
  const total = count(summary.total);
  const shardTotals = new Map<number, number>();
  if (shards.length === 1 && total !== undefined) shardTotals.set(shards[0].index, total);
  else if (shards.length > 1 && typeof summary.shardTotals === 'object' && summary.shardTotals) {
    for (const [l, n] of Object.entries(summary.shardTotals)) {
      const x = shards.find((sh) => shardLabel(sh) === l);
      if (x && count(n) !== undefined) shardTotals.set(x.index, n as number);
    }
  }
  return { folder, settings, shards, total, shardTotals };
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

  const sharded = runs.filter((r) => r.shards.length);
  const counts = [...new Set(sharded.flatMap((r) => r.shards.map((x) => x.count)))];
  if (counts.length > 1) {
    const list = sharded.map((r) => `${r.folder} is shard ${r.shards.map(shardLabel).join(' + ')}`).join(', ');
    throw new AttentionPromptError('bad-parameter', `merge: the folders split the items differently (${list}); shards of different counts do not add up to the items. Rerun the missing shards with one --shard count.`);
  }
  const whole = runs.filter((r) => !r.shards.length);
  const shardCount = counts[0];
  const held = new Set(sharded.flatMap((r) => r.shards.map((x) => x.index)));
  const missingShards = shardCount !== undefined && !whole.length ? Array.from({ length: shardCount }, (_, i) => i).filter((i) => !held.has(i)).map((i) => `${i}/${shardCount}`) : [];

  // A whole run's total is every item; otherwise the shards' totals add up (each shard counted once).
  let expectedTotal: number | undefined;
  if (whole.length) expectedTotal = whole.every((r) => r.total !== undefined) ? Math.max(...whole.map((r) => r.total!)) : undefined;
  const byShard = new Map<number, number>();
  for (const r of sharded) for (const [i, n] of r.shardTotals) byShard.set(i, Math.max(byShard.get(i) ?? 0, n));
  if (!whole.length && !missingShards.length && byShard.size === shardCount) expectedTotal = [...byShard.values()].reduce((a, b) => a + b, 0);
  const shardTotals = whole.length || shardCount === undefined ? undefined : Object.fromEntries([...byShard].sort(([a], [b]) => a - b).map(([i, n]) => [`${i}/${shardCount}`, n]));
  const shared = reference && !changedSettings.length && withSettings.length === runs.length ? { ...reference.settings!, shard: null } : undefined;
  return { shardCount, missingShards, expectedTotal, changedSettings, settings: shared, shardTotals };
}
