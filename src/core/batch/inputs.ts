/**
 * What a batch run reads: a folder (recursively), a glob, a list of image paths, or a JSONL file
 * of `{"id"?, "image", "question", "hint"?}` items. Items are produced one at a time (async
 * generator) so a run over a large dataset never holds them all.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
// A require, so the bundler takes tinyglobby's CommonJS build (its ESM build needs import.meta).
import tinyglobby = require('tinyglobby');
import { hasImageExtension } from '../defaults';
import { AttentionPromptError } from '../errors';
import { GroundTruth, readGroundTruth } from './scoring';

export interface BatchItem extends GroundTruth {
  id: string;
  image: string;
  question: string;
  hint?: string;
  /** Where it came from, for error messages: "file:line" or the path. */
  origin: string;
}

export interface InputOptions {
  /** Used for every item that has none (folders, globs, lists; JSONL lines without a question). */
  question?: string;
  /**
   * Let a JSONL file or list name images outside its own folder (absolute paths, `../`, links
   * that lead out). Off by default: a dataset file from someone else's repository must not make
   * a run read — and send to a VLM, and embed in the report — any image the user can read.
   */
  allowOutsidePaths?: boolean;
}

export type InputKind = 'folder' | 'jsonl' | 'list' | 'glob';

export function inputKind(input: string): InputKind {
  if (/[*?[\]{}]/.test(input) && !fs.existsSync(input)) return 'glob';
  if (!fs.existsSync(input)) throw new AttentionPromptError('bad-parameter', `Input not found: ${input}`);
  if (fs.statSync(input).isDirectory()) return 'folder';
  if (input.endsWith('.jsonl')) return 'jsonl';
  if (input.endsWith('.txt')) return 'list';
  throw new AttentionPromptError('bad-parameter', `Unsupported input ${input}: give a folder, a glob, a .txt list of images or a .jsonl file of questions.`);
}

/** A file-system-safe id from a relative path: folders joined with "__", extension dropped. */
export function idFromPath(rel: string): string {
  const noExt = rel.slice(0, rel.length - path.extname(rel).length);
  return safeId(noExt.split(/[\\/]+/).filter((part) => part && part !== '.').join('__') || 'image');
}

/** An id that is one plain file name: letters, digits, `_`, `-`, `.`, never starting with a dot. */
export function safeId(id: string): string {
  const s = String(id).replace(/[^\w.-]+/g, '_').replace(/^\.+/, '_');
  if (!s) throw new AttentionPromptError('bad-parameter', `Item id "${id}" has no usable characters.`);
  return s.slice(0, 200);
}

/** Whether `file` lies inside `dir` (both absolute). */
export function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel);
}

/**
 * An image path from a JSONL file or list, resolved against the file's folder and confined to it
 * (as written and after following links), unless outside paths are allowed.
 */
function datasetPath(dir: string, written: string, origin: string, allowOutside: boolean | undefined): string {
  const file = path.resolve(dir, written);
  if (allowOutside) return file;
  const refuse = (why: string) =>
    new AttentionPromptError('bad-parameter', `${origin}: "${written}" ${why}; images must lie inside ${dir} (pass --allow-outside-paths if you trust this dataset file).`);
  if (path.isAbsolute(written) || !isInside(dir, file)) throw refuse(path.isAbsolute(written) ? 'is an absolute path' : 'points outside the dataset folder');
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return file; // missing: reported as that item's decode error
  }
  if (!isInside(fs.realpathSync(dir), real)) throw refuse('is a link that leads outside the dataset folder');
  return file;
}

/**
 * Image files under `dir`, in name order. Links are followed (datasets are often assembled from
 * links); a folder already on the way down (a link loop) is not entered twice, and a broken link
 * is skipped.
 */
async function* walk(dir: string, visited = new Set<string>()): AsyncGenerator<string> {
  const real = await fs.promises.realpath(dir);
  if (visited.has(real)) return;
  visited.add(real);
  const entries = (await fs.promises.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    let kind: 'dir' | 'file' | undefined = e.isDirectory() ? 'dir' : e.isFile() ? 'file' : undefined;
    if (e.isSymbolicLink()) {
      const target = await fs.promises.stat(p).catch(() => undefined);
      kind = target?.isDirectory() ? 'dir' : target?.isFile() ? 'file' : undefined;
    }
    if (kind === 'dir') yield* walk(p, visited);
    else if (kind === 'file' && hasImageExtension(e.name)) yield p;
  }
}

async function* lines(file: string): AsyncGenerator<{ text: string; line: number }> {
  const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of rl) {
    line++;
    // Editors on Windows often save UTF-8 with a byte-order mark.
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (text.trim()) yield { text, line };
  }
}

function requireQuestion(q: string | undefined, origin: string): string {
  if (!q || !q.trim()) throw new AttentionPromptError('bad-query', `${origin}: no question (give --question, or a "question" field in the JSONL file).`);
  return q;
}

/** Items in input order; ids are unique (a repeated id gets a numeric suffix). */
export async function* readItems(input: string, opts: InputOptions = {}): AsyncGenerator<BatchItem> {
  const kind = inputKind(input);
  const seen = new Set<string>();
  const unique = (id: string) => {
    let u = id;
    for (let i = 2; seen.has(u); i++) u = `${id}-${i}`;
    seen.add(u);
    return u;
  };
  if (kind === 'folder') {
    const root = path.resolve(input);
    for await (const file of walk(root)) {
      yield { id: unique(idFromPath(path.relative(root, file))), image: file, question: requireQuestion(opts.question, file), origin: file };
    }
  } else if (kind === 'glob') {
    const files = (await tinyglobby.glob(input, { absolute: true, onlyFiles: true })).filter((f) => hasImageExtension(f)).sort();
    const base = commonDir(files);
    for (const file of files) {
      yield { id: unique(idFromPath(path.relative(base, file))), image: file, question: requireQuestion(opts.question, file), origin: file };
    }
  } else if (kind === 'list') {
    const dir = path.dirname(path.resolve(input));
    for await (const { text, line } of lines(input)) {
      const rel = text.trim();
      if (rel.startsWith('#')) continue;
      const file = datasetPath(dir, rel, `${input}:${line}`, opts.allowOutsidePaths);
      yield { id: unique(idFromPath(path.isAbsolute(rel) ? path.basename(rel) : rel)), image: file, question: requireQuestion(opts.question, `${input}:${line}`), origin: `${input}:${line}` };
    }
  } else {
    const dir = path.dirname(path.resolve(input));
    for await (const { text, line } of lines(input)) {
      const origin = `${input}:${line}`;
      let obj: { id?: unknown; image?: unknown; question?: unknown; hint?: unknown; answer?: unknown; choices?: unknown; category?: unknown };
      try {
        obj = JSON.parse(text);
      } catch (e) {
        throw new AttentionPromptError('bad-parameter', `${origin}: not valid JSON (${(e as Error).message}).`);
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
        throw new AttentionPromptError('bad-parameter', `${origin}: expected an object {"image", "question", …}, got ${JSON.stringify(obj)}.`);
      }
      if (typeof obj.image !== 'string' || !obj.image) throw new AttentionPromptError('bad-parameter', `${origin}: missing "image".`);
      const question = requireQuestion(typeof obj.question === 'string' ? obj.question : opts.question, origin);
      const id = obj.id !== undefined && obj.id !== null ? safeId(String(obj.id)) : idFromPath(obj.image);
      if (obj.id !== undefined && seen.has(id)) throw new AttentionPromptError('bad-parameter', `${origin}: duplicate id "${id}".`);
      let truth: GroundTruth;
      try {
        truth = readGroundTruth(obj, origin);
      } catch (e) {
        throw new AttentionPromptError('bad-parameter', (e as Error).message);
      }
      yield {
        id: unique(id),
        image: datasetPath(dir, obj.image, origin, opts.allowOutsidePaths),
        question,
        hint: typeof obj.hint === 'string' && obj.hint.trim() ? obj.hint : undefined,
        ...truth,
        origin,
      };
    }
  }
}

function commonDir(files: string[]): string {
  if (!files.length) return process.cwd();
  let base = path.dirname(files[0]);
  for (const f of files) while (!f.startsWith(base + path.sep) && base !== path.dirname(base)) base = path.dirname(base);
  return base;
}
