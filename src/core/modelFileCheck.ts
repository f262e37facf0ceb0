/**
 * Whether a model file is what its name says, before it becomes a cache entry (downloaded) or is
 * loaded from one (cached): an .onnx file must parse as an ONNX protobuf, a .json file as JSON.
 * A hub, mirror or proxy that sends a short, junk or oversized body would otherwise leave a file
 * that fails on every later run.
 */
import * as fs from 'node:fs';
import { indexOnnx } from './onnx/onnxFile';
import { FileSource, WireType, fields } from './onnx/protobuf';

/** ModelProto's `graph` field (onnx.proto). */
const MODEL_GRAPH_FIELD = 7;

/**
 * What is wrong with the file at `filePath` (named `file` in the repo), or undefined when it reads.
 * `thorough` walks the whole ONNX graph (after a download, while the file is still in the page
 * cache); otherwise only the top-level fields are walked, which finds truncation and junk at the
 * cost of a few small reads (every load).
 */
export function modelFileProblem(filePath: string, file: string, thorough: boolean): string | undefined {
  if (file.endsWith('.json')) return thorough ? jsonProblem(fs.readFileSync(filePath, 'utf8')) : jsonEndsProblem(filePath);
  if (!file.endsWith('.onnx')) return undefined;
  const fd = fs.openSync(filePath, 'r');
  try {
    const src = new FileSource(fd, thorough ? undefined : 64 * 1024);
    if (thorough) {
      indexOnnx(src);
      return undefined;
    }
    // Every top-level field, to the end: a cut anywhere overruns the field it cuts.
    let graph = false;
    for (const f of fields(src, 0, src.size)) graph ||= f.field === MODEL_GRAPH_FIELD && f.wireType === WireType.LengthDelimited;
    return graph ? undefined : 'not an ONNX model: no graph found';
  } catch (e) {
    return `not a readable ONNX model (${(e as Error).message})`;
  } finally {
    fs.closeSync(fd);
  }
}

export function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (e) {
    return `not valid JSON (${(e as Error).message})`;
  }
}

/**
 * Whether the file opens and closes as one JSON object or array: catches a cut and an HTML page
 * without parsing (tokenizer.json is megabytes; parsing it took ~40 ms on every load).
 */
function jsonEndsProblem(filePath: string): string | undefined {
  const fd = fs.openSync(filePath, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(64, size));
    const tail = Buffer.alloc(Math.min(64, size));
    fs.readSync(fd, head, 0, head.length, 0);
    fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    const start = head.toString('latin1').trimStart();
    const end = tail.toString('latin1').trimEnd();
    if ((start.startsWith('{') && end.endsWith('}')) || (start.startsWith('[') && end.endsWith(']'))) return undefined;
    return `not valid JSON (it starts with ${JSON.stringify(start.slice(0, 20))} and ends with ${JSON.stringify(end.slice(-20))})`;
  } finally {
    fs.closeSync(fd);
  }
}
