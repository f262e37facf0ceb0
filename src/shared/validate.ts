/**
 * Checks for messages that arrive from a less trusted side (a webview, a restored panel state):
 * every field, not just the message type. A check returns the value typed, or throws an
 * InvalidMessage naming the first field that is wrong. No dependencies: it runs in webviews too.
 */

export class InvalidMessage extends Error {
  /** `reason`: another module's own message for the value, shown instead of "expected …, got …". */
  constructor(readonly field: string, expected: string, got: unknown, reason?: string) {
    super(`${field || 'message'}: ${reason ?? `expected ${expected}, got ${describe(got)}`}`);
    this.name = 'InvalidMessage';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** A check: `field` is the path shown in errors ("view.contrast"). */
export type Check<T> = (value: unknown, field: string) => T;

export const string =
  (opts: { maxLength?: number; nonEmpty?: boolean } = {}): Check<string> =>
  (v, field) => {
    if (typeof v !== 'string') throw new InvalidMessage(field, 'a string', v);
    if (opts.nonEmpty && !v.trim()) throw new InvalidMessage(field, 'a non-empty string', v);
    if (opts.maxLength !== undefined && v.length > opts.maxLength) throw new InvalidMessage(field, `at most ${opts.maxLength} characters`, v);
    return v;
  };

export const number =
  (opts: { min?: number; max?: number; integer?: boolean } = {}): Check<number> =>
  (v, field) => {
    const bounds = `${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.max !== undefined ? ` ≤ ${opts.max}` : ''}`;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidMessage(field, bounds, v);
    if ((opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) throw new InvalidMessage(field, bounds, v);
    return v;
  };

export const boolean = (): Check<boolean> => (v, field) => {
  if (typeof v !== 'boolean') throw new InvalidMessage(field, 'true or false', v);
  return v;
};

export const oneOf =
  <const T extends readonly (string | number)[]>(values: T): Check<T[number]> =>
  (v, field) => {
    if (!values.includes(v as T[number])) throw new InvalidMessage(field, `one of ${values.join(', ')}`, v);
    return v as T[number];
  };

export const nullable =
  <T>(check: Check<T>): Check<T | null> =>
  (v, field) =>
    v === null ? null : check(v, field);

export const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (v, field) =>
    v === undefined ? undefined : check(v, field);

type Shape = Record<string, Check<unknown>>;
type Checked<S extends Shape> = { [K in keyof S as undefined extends ReturnType<S[K]> ? never : K]: ReturnType<S[K]> } & {
  [K in keyof S as undefined extends ReturnType<S[K]> ? K : never]?: ReturnType<S[K]>;
};

/** A plain object with exactly these fields (unknown fields are refused, so typos show up). */
export const object =
  <S extends Shape>(shape: S): Check<Checked<S>> =>
  (v, field) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidMessage(field, 'an object', v);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) if (!(key in shape)) throw new InvalidMessage(field ? `${field}.${key}` : key, 'no such field', (v as Record<string, unknown>)[key]);
    for (const [key, check] of Object.entries(shape)) {
      const value = check((v as Record<string, unknown>)[key], field ? `${field}.${key}` : key);
      if (value !== undefined) out[key] = value;
    }
    return out as Checked<S>;
  };

/** A value judged by a rule defined elsewhere: `problem` returns what is wrong (shown as is), or undefined. */
export const judgedBy =
  <T>(problem: (v: unknown) => string | undefined): Check<T> =>
  (v, field) => {
    const reason = problem(v);
    if (reason !== undefined) throw new InvalidMessage(field, '', v, reason);
    return v as T;
  };

/** Accepts nothing (a message without a payload). */
export const empty = (): Check<undefined> => (v, field) => {
  if (v !== undefined && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0)) throw new InvalidMessage(field, 'no payload', v);
  return undefined;
};
