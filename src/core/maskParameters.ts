/**
 * The one check of the mask parameters (contrast, kernel) and of how the mask is applied (gray,
 * interpolation), against defaults.ts's bounds. The CLI, the sweep parser, the engine, the batch
 * runner's re-mask, the LVLM map and the webview message checks all call it, so a value is
 * refused everywhere with the same message.
 *
 * Browser-safe: it imports defaults.ts and errors.ts only (the webview checks bundle it).
 */
import { CONTRAST, GRAY, INTERPOLATIONS, KERNEL_SIZES, type NumberBounds } from './defaults';
import { AttentionPromptError } from './errors';

/** What turns the two raw scores into the low-resolution mask (maps.ts, the LVLM map's revise_mask). */
export interface MaskParameters {
  /** Sigmoid contrast enhancement of the class-token map (`enhance_coe`, default 5). */
  contrast: number;
  /** Box-filter size, odd (`kernel_size`, default 3). */
  kernel: number;
}

/** Every parameter the check knows; a caller passes those it has. */
export interface MaskSettingValues {
  contrast?: unknown;
  kernel?: unknown;
  gray?: unknown;
  interpolation?: unknown;
}
export type MaskSettingName = keyof MaskSettingValues;

const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

function outsideBounds(label: string, b: NumberBounds, v: unknown): string | undefined {
  const ok = typeof v === 'number' && Number.isFinite(v) && (!b.integer || Number.isInteger(v)) && v >= b.min && (b.max === undefined || v <= b.max);
  return ok ? undefined : `${label} must be ${b.integer ? 'an integer' : 'a number'} from ${b.min} to ${b.max ?? 'any size'}, got ${shown(v)}.`;
}

const PROBLEMS: Record<MaskSettingName, (v: unknown) => string | undefined> = {
  contrast: (v) => outsideBounds('Contrast', CONTRAST, v),
  kernel: (v) =>
    (KERNEL_SIZES as readonly unknown[]).includes(v) ? undefined : `Kernel must be an odd integer from ${KERNEL_SIZES[0]} to ${KERNEL_SIZES[KERNEL_SIZES.length - 1]}, got ${shown(v)}.`,
  gray: (v) => outsideBounds('Gray', GRAY, v),
  interpolation: (v) => ((INTERPOLATIONS as readonly unknown[]).includes(v) ? undefined : `Unknown interpolation ${shown(v)}: use ${INTERPOLATIONS.join(', ')}.`),
};

/** What is wrong with one value (the message every caller shows), or undefined when it is within bounds. */
export function maskSettingProblem(name: MaskSettingName, value: unknown): string | undefined {
  return PROBLEMS[name](value);
}

/** Refuses the first value given that is out of bounds (absent ones are not checked), with code `bad-parameter`. */
export function checkMaskParameters(values: MaskSettingValues): void {
  for (const name of Object.keys(PROBLEMS) as MaskSettingName[]) {
    if (!(name in values) || values[name] === undefined) continue;
    const problem = maskSettingProblem(name, values[name]);
    if (problem) throw new AttentionPromptError('bad-parameter', problem);
  }
}
