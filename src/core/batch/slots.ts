/** The run's concurrency bound: VLM requests (and the judge's) each hold a slot while they run. */
import { AttentionPromptError } from '../errors';

/** A counting semaphore for VLM requests. */
export class Slots {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      // Given up while waiting: leave the queue, so the slot goes to the next waiter.
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== grant);
        reject(new AttentionPromptError('cancelled', 'Cancelled.'));
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
