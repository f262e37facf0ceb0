/** The reference repository's output layout (`--layout reference`): where its masked images go. */
import * as path from 'node:path';
import { PIL_FILTER, type Interpolation } from '../defaults';
import { AttentionPromptError } from '../errors';
import { isInside, safeId } from './inputs';

/** The reference repository's output folder (main.py:159, 172). */
export function referenceFolder(outDir: string, dataset: string, model: string, layer: number, p: { contrast: number; kernel: number; interpolation: Interpolation; gray: number }): string {
  // The dataset name and model become one folder name each: no separators, no leading dots.
  const folder = path.join(outDir, `APICLIP_${safeId(dataset)}_${safeId(path.basename(model))}_${layer}`, `${p.contrast}_${p.kernel}_${PIL_FILTER[p.interpolation]}_${p.gray}`);
  if (!isInside(path.resolve(outDir), path.resolve(folder))) throw new AttentionPromptError('bad-parameter', `The reference layout folder ${folder} would lie outside ${outDir}.`);
  return folder;
}
