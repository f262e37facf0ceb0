/** A run's counts (done, failed, skipped), its rate and progress, and the results file every item ends in. */
import type { BatchProgress } from './batchOptions';
import type { ResultRecord, ResultsLog } from './results';

/** The counts of a run, its progress callback and the results file every item ends in. */
export class Tally {
  done = 0;
  failed = 0;
  skipped = 0;
  /** Items finished by this run (done or failed), for the rate. */
  processed = 0;
  /** Time spent loading models (one per swept layer): not part of the rate. */
  loadMs = 0;
  private readonly started = performance.now();

  constructor(readonly total: number, private readonly results: ResultsLog, private readonly onProgress?: (p: BatchProgress) => void) {}

  /** Loads a model without counting the wait in the rate (loading is a one-off the engine times itself). */
  async loading<T>(load: () => Promise<T>): Promise<T> {
    const before = performance.now();
    try {
      return await load();
    } finally {
      this.loadMs += performance.now() - before;
    }
  }

  /** Items per second of processing up to `now`: the run's time less its model loads. */
  rate(now = performance.now()): number {
    return this.processed / Math.max((now - this.started - this.loadMs) / 1000, 1e-3);
  }

  progress(current?: string): void {
    this.onProgress?.({ total: this.total, done: this.done, failed: this.failed, skipped: this.skipped, rate: this.rate(), current });
  }

  skip(id: string): void {
    this.skipped++;
    this.progress(id);
  }

  /** Appends the item's one line; after this the item counts as finished. */
  record(rec: ResultRecord): void {
    this.results.append(rec);
    this.processed++;
    if (rec.error) this.failed++;
    else this.done++;
    this.progress(rec.id);
  }
}
