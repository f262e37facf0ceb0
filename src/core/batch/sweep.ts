/**
 * Parameter sweeps: `--sweep layer=20,22 contrast=3,5 kernel=1,3` runs every combination over the
 * same items. CLIP runs once per image, question and layer; contrast and kernel re-make the mask
 * from the cached raw scores (Ψcls, Ψtok), as the paper's merge step allows (maps.ts mergeMaps).
 * The original image's answer does not depend on the setting and is asked once per item.
 */
import { AttentionPromptError } from '../errors';
import { type MaskParameters, checkMaskParameters } from '../maskParameters';

export const SWEEP_AXES = ['layer', 'contrast', 'kernel'] as const;
export type SweepAxis = (typeof SWEEP_AXES)[number];
export type SweepAxes = Partial<Record<SweepAxis, number[]>>;

export interface SweepSetting {
  /** "layer=20 contrast=3 kernel=1": the swept axes only; stored in each result line. */
  key: string;
  /** The key as a file-name part: "layer20_contrast3_kernel1". */
  slug: string;
  /** Undefined when layers are not swept: the run's layer. */
  layer?: number;
  mask: MaskParameters;
}

/** Parses "axis=v1,v2" specs (several per argument allowed, space-separated). */
export function parseSweep(specs: string[]): SweepAxes {
  const axes: SweepAxes = {};
  for (const spec of specs.flatMap((s) => s.split(/\s+/)).filter(Boolean)) {
    const m = /^([a-z]+)=(.+)$/.exec(spec);
    const axis = m?.[1] as SweepAxis | undefined;
    if (!m || !axis || !SWEEP_AXES.includes(axis)) {
      throw new AttentionPromptError('bad-parameter', `--sweep takes axis=v1,v2,… with axis one of ${SWEEP_AXES.join(', ')}; got "${spec}".`);
    }
    if (axes[axis]) throw new AttentionPromptError('bad-parameter', `--sweep names ${axis} twice.`);
    const values = m[2].split(',').map((v) => v.trim());
    const numbers = values.map(Number);
    if (values.some((v) => v === '') || numbers.some((n) => !Number.isFinite(n))) throw new AttentionPromptError('bad-parameter', `--sweep ${axis}: "${m[2]}" is not a comma-separated list of numbers.`);
    if (axis !== 'contrast' && numbers.some((n) => !Number.isInteger(n))) throw new AttentionPromptError('bad-parameter', `--sweep ${axis} takes integers, got "${m[2]}".`);
    if (axis !== 'layer') {
      // The bounds every mask parameter has (maskParameters.ts), checked here so no setting of the sweep runs first.
      try {
        for (const n of numbers) checkMaskParameters({ [axis]: n });
      } catch (e) {
        throw new AttentionPromptError('bad-parameter', `--sweep ${axis}=${m[2]}: ${(e as Error).message}`);
      }
    }
    if (new Set(numbers).size !== numbers.length) throw new AttentionPromptError('bad-parameter', `--sweep ${axis} repeats a value: "${m[2]}".`);
    axes[axis] = numbers;
  }
  if (!Object.keys(axes).length) throw new AttentionPromptError('bad-parameter', '--sweep needs at least one axis=v1,v2 (layer, contrast, kernel).');
  return axes;
}

/** Refuses a sweep whose mask values are out of bounds (sweeps built without parseSweep: the runner's API). */
export function checkSweepValues(axes: SweepAxes): void {
  for (const contrast of axes.contrast ?? []) checkMaskParameters({ contrast });
  for (const kernel of axes.kernel ?? []) checkMaskParameters({ kernel });
}

/** Every combination, layer-major (all settings of one layer are adjacent). */
export function sweepSettings(axes: SweepAxes, base: MaskParameters): SweepSetting[] {
  const layers: Array<number | undefined> = axes.layer ?? [undefined];
  const out: SweepSetting[] = [];
  for (const layer of layers) {
    for (const contrast of axes.contrast ?? [base.contrast]) {
      for (const kernel of axes.kernel ?? [base.kernel]) {
        const parts: Array<[SweepAxis, number | undefined]> = [['layer', layer], ['contrast', contrast], ['kernel', kernel]];
        const swept = parts.filter(([a]) => axes[a]);
        out.push({
          key: swept.map(([a, v]) => `${a}=${v}`).join(' '),
          slug: swept.map(([a, v]) => `${a}${v}`).join('_').replace(/[^\w.-]/g, '_'),
          layer,
          mask: { contrast, kernel },
        });
      }
    }
  }
  return out;
}

/** The settings grouped by layer, in order: one CLIP engine (and pass per image) per group. */
export function byLayer(settings: SweepSetting[]): Array<{ layer?: number; settings: SweepSetting[] }> {
  const groups: Array<{ layer?: number; settings: SweepSetting[] }> = [];
  for (const s of settings) {
    const last = groups[groups.length - 1];
    if (last && last.layer === s.layer) last.settings.push(s);
    else groups.push({ layer: s.layer, settings: [s] });
  }
  return groups;
}

/** The results-file key of an item under a setting: resume and merge count (id, setting) pairs. */
export function resultKey(id: string, setting?: string): string {
  return setting ? `${id}\u0000${setting}` : id;
}
