import * as os from 'node:os';

/** ONNX Runtime's intra-op threads when none are asked for: the cores available. */
export function defaultThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}
