/** How many threads work may use when nobody says: the cores this process may run on. */
import * as os from 'node:os';

/** The cores available (at least 1): ONNX Runtime's intra-op threads and the resize's row split both size from it. */
export function defaultThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}
