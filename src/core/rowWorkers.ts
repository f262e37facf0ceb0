/**
 * The resize's horizontal pass split over threads. Shrinking a 4000×3000 photo to CLIP's input is
 * some 145 million multiply-adds in Pillow's integer arithmetic (12 · width · height for bicubic,
 * whatever the output size), about 150 ms on one core; rows are independent, so the image's rows
 * are cut into as many ranges as there are cores, this thread taking one and worker threads the
 * others. Inputs and outputs live in SharedArrayBuffers, so nothing is copied back.
 *
 * The workers run resample.ts's horizontalRows from its source text (it names nothing outside
 * itself), so there is no second copy of the arithmetic and no worker file to ship beside the bundles.
 */
import { Worker } from 'node:worker_threads';
import type { ResizeFilter } from './defaults';
import { horizontalRows, resizeBands, resizeBandsWith, type RowJob } from './resample';
import { defaultThreads } from './threads';

/** Below this many input pixels a pass is too short to be worth a thread hop. */
export const PARALLEL_MIN_PIXELS = 1_000_000;
/** At most this many worker threads, whatever the core count: the pass is memory-bound beyond. */
const MAX_WORKERS = 3;

interface RowMessage {
  id: number;
  src: SharedArrayBuffer;
  bands: number;
  inW: number;
  from: number;
  to: number;
  outW: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  size: number;
  out: SharedArrayBuffer;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const horizontalRows = ${horizontalRows.toString()};
parentPort.on('message', (m) => {
  try {
    horizontalRows(new Uint8Array(m.src), m.bands, m.inW, m.from, m.to, m.outW, m.first, m.count, m.weights, m.size, new Uint8Array(m.out));
    parentPort.postMessage({ id: m.id });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.stack || e) });
  }
});`;

let pool: Worker[] | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

/** The worker threads (made on first use, never keeping the process alive); none on one core. */
function workers(): Worker[] {
  if (pool) return pool;
  const cores = defaultThreads();
  pool = [];
  for (let i = 0; i < Math.min(cores - 1, MAX_WORKERS); i++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (m: { id: number; error?: string }) => {
      worker.unref();
      const waiting = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) waiting?.reject(new Error(`resize worker: ${m.error}`));
      else waiting?.resolve();
    });
    // A worker that dies takes its jobs with it: fail them, and start afresh next time.
    worker.on('error', (e) => {
      for (const [id, waiting] of pending) {
        pending.delete(id);
        waiting.reject(e);
      }
      pool = undefined;
    });
    // Idle workers never keep the process alive; a worker with a job does (ref'd while it runs).
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    pool.push(worker);
  }
  return pool;
}

function share(bytes: Uint8Array): SharedArrayBuffer {
  const shared = new SharedArrayBuffer(bytes.length);
  new Uint8Array(shared).set(bytes);
  return shared;
}

/** Every row of the job, split over this thread and the workers. */
export async function parallelRows(job: RowJob): Promise<Uint8Array> {
  const { src, bands, inW, inH, outW, taps } = job;
  const out = new SharedArrayBuffer(outW * inH * bands);
  const outBytes = new Uint8Array(out);
  const helpers = inW * inH >= PARALLEL_MIN_PIXELS ? workers() : [];
  if (helpers.length === 0) {
    horizontalRows(src, bands, inW, 0, inH, outW, taps.first, taps.count, taps.weights, taps.size, outBytes);
    return outBytes;
  }
  const shared = share(src);
  const parts = helpers.length + 1;
  const bound = (k: number) => Math.round((inH * k) / parts);
  const done = helpers.map(
    (worker, k) =>
      new Promise<void>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.ref();
        const message: RowMessage = { id, src: shared, bands, inW, from: bound(k + 1), to: bound(k + 2), outW, first: taps.first, count: taps.count, weights: taps.weights, size: taps.size, out };
        worker.postMessage(message);
      }),
  );
  // This thread takes the first range while the workers run theirs.
  horizontalRows(src, bands, inW, 0, bound(1), outW, taps.first, taps.count, taps.weights, taps.size, outBytes);
  await Promise.all(done);
  return outBytes;
}

/** resizeBands, its horizontal pass over threads for large images: the same bytes, sooner. */
export function resizeBandsParallel(src: Uint8Array, bands: number, inW: number, inH: number, outW: number, outH: number, method: ResizeFilter): Promise<Buffer> {
  if (inW * inH < PARALLEL_MIN_PIXELS) return Promise.resolve(resizeBands(src, bands, inW, inH, outW, outH, method));
  return resizeBandsWith(parallelRows, src, bands, inW, inH, outW, outH, method);
}
