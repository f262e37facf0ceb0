/**
 * Leaving at once on Ctrl-C or SIGTERM. process.exit() first joins libuv's worker threads, so it
 * waits for whatever a worker is running (a long image decode in libvips waited 82–505 s after
 * "interrupted"). Re-raising the signal with its default action ends the process now, with the
 * status a shell expects of it (130 for SIGINT, 143 for SIGTERM).
 */
import { removeInFlight } from '../core/downloadTemps';

export function exitNow(signal: NodeJS.Signals = 'SIGINT'): never {
  // Dying of the signal skips 'exit' listeners: remove a download's partial file first.
  removeInFlight();
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.kill(process.pid, signal);
  // Where a signal cannot be re-raised (Windows), the ordinary exit.
  process.exit(signal === 'SIGTERM' ? 143 : 130);
}
