/**
 * What the batch tests share: a temporary dataset of rectangle images, the runner's options over
 * the planted fixture model, the CLI run as a child process with its output captured, and
 * results.jsonl read back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResultRecord } from '../src/core/batch/results';
import type { BatchOptions } from '../src/core/batch/batchOptions';
import { ROOT, fixtureModel, rectangleImage } from './helpers';

export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const PLANTED_CLIP = fixtureModel('planted-clip');

/** Every line of a results file, parsed (a partial line throws: tests that expect one filter first). */
export function readResultLines(file: string): ResultRecord[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultRecord);
}

export interface ImageSet {
  /** The file name of image i, relative to the folder (subfolders are made). */
  name?: (i: number) => string;
  /** The PNG bytes of image i. */
  image?: (i: number) => Promise<Buffer>;
}

/** Writes n small PNGs (by default img000.png… with a red box that moves) into dir; returns their paths. */
export async function makeImages(dir: string, n: number, set: ImageSet = {}): Promise<string[]> {
  const name = set.name ?? ((i) => `img${String(i).padStart(3, '0')}.png`);
  const image = set.image ?? ((i) => rectangleImage(64, 48, 'red', { left: i % 30, top: 5, width: 20, height: 20 }));
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, name(i));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, await image(i));
    files.push(file);
  }
  return files;
}

/** runBatch's options over the planted CLIP: one question for every image, the paper's mask settings, no VLM unless given. */
export function batchOptions(input: string, outDir: string, cacheDir: string, extra: Partial<BatchOptions> = {}): BatchOptions {
  return {
    input,
    question: 'where is the red box?',
    outDir,
    engine: { model: PLANTED_CLIP, cacheDir, threads: 1 },
    geometry: 'full',
    mask: { contrast: 5, kernel: 3 },
    interpolation: 'lanczos3',
    gray: 0,
    opacity: 0.5,
    concurrency: 2,
    resume: false,
    ...extra,
  };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** Starts `attention-prompt ARGS` (dist/cli.js); its output is collected, `exited` resolves when it ends. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; exited: Promise<CliRun> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<CliRun>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, exited };
}

/** Ends the CLI runs a failed test left behind (call from `after`). */
export function endCliRuns(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** The exit code of a child process, whether it has already ended or not. */
export function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));
}

/** Polls until the condition holds (at most two minutes). */
export async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Stops a CLI run with `signal` once its results file holds at least `lines` lines (a run killed
 * or interrupted mid-way); rejects if the run ends first.
 */
export function stopAtLines(run: { child: ChildProcess; exited: Promise<CliRun> }, file: string, lines: number, signal: NodeJS.Signals): Promise<CliRun> {
  return new Promise<CliRun>((resolve, reject) => {
    let stopped = false;
    const timer = setInterval(() => {
      const n = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').length - 1 : 0;
      if (n >= lines && !stopped) {
        stopped = true;
        clearInterval(timer);
        run.child.kill(signal);
      }
    }, 10);
    void run.exited.then((r) => {
      clearInterval(timer);
      if (stopped) resolve(r);
      else reject(new Error(`the run ended before ${file} had ${lines} lines: ${r.stderr}`));
    });
  });
}
