/**
 * The statistics of a masked-vs-original comparison: accuracies with Wilson score intervals and
 * the exact McNemar test on the paired table.
 */

/** z for a two-sided 95% interval: Φ⁻¹(0.975). */
export const Z_95 = 1.959963984540054;

/**
 * Wilson score interval for k successes in n trials (Wilson 1927; Agresti & Coull 1998):
 *   centre = (p̂ + z²/2n) / (1 + z²/n),  half-width = z/(1 + z²/n) · √(p̂(1−p̂)/n + z²/4n²).
 * Unlike p̂ ± z√(p̂(1−p̂)/n) it stays inside [0, 1] and is not degenerate at 0 or n successes.
 */
export function wilsonInterval(k: number, n: number, z = Z_95): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At k = 0 and k = n the bounds are exactly 0 and 1; rounding would leave 1 − 2⁻⁵³.
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

/**
 * Exact McNemar test (two-sided): under H0 the b + c discordant pairs split as Binomial(b + c, ½),
 * so p = min(1, 2·P[X ≤ min(b, c)]). Summed in log space so tens of thousands of pairs neither
 * overflow C(n, i) nor underflow 2⁻ⁿ.
 */
/** Up to this many discordant pairs the tail is summed in exact integers. */
const EXACT_LIMIT = 4000;

export function mcnemarExact(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  if (n <= EXACT_LIMIT) {
    // Exact integers: Σ C(n, i) for i ≤ k, scaled by 2⁶⁴ before the one division by 2ⁿ⁻¹.
    let term = 1n;
    let tail = 0n;
    for (let i = 0; i <= k; i++) {
      tail += term;
      term = (term * BigInt(n - i)) / BigInt(i + 1);
    }
    const scaled = (tail << 65n) / (1n << BigInt(n));
    return Math.min(1, Number(scaled) / 2 ** 64);
  }
  // log C(n, i) built up as log C(n, i+1) = log C(n, i) + log(n − i) − log(i + 1).
  const logTerms: number[] = [];
  let logC = 0;
  for (let i = 0; i <= k; i++) {
    logTerms.push(logC - n * Math.LN2);
    logC += Math.log(n - i) - Math.log(i + 1);
  }
  const max = Math.max(...logTerms);
  const tail = Math.exp(max) * logTerms.reduce((s, t) => s + Math.exp(t - max), 0);
  return Math.min(1, 2 * tail);
}

export interface Accuracy {
  right: number;
  n: number;
  accuracy: number;
  /** Wilson score 95% interval. */
  ci95: [number, number];
}

export function accuracy(right: number, n: number): Accuracy {
  return { right, n, accuracy: n ? right / n : 0, ci95: wilsonInterval(right, n) };
}

/** The paired table: each item answered both ways, classified by which answers were right. */
export interface PairedTable {
  bothRight: number;
  onlyMaskedRight: number;
  onlyOriginalRight: number;
  bothWrong: number;
  /** Exact McNemar p-value on onlyMaskedRight vs onlyOriginalRight. */
  mcnemarP: number;
}

export function pairedTable(bothRight: number, onlyMaskedRight: number, onlyOriginalRight: number, bothWrong: number): PairedTable {
  return { bothRight, onlyMaskedRight, onlyOriginalRight, bothWrong, mcnemarP: mcnemarExact(onlyMaskedRight, onlyOriginalRight) };
}
