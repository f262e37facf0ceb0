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
  if (file.endsWith('.json')) {
    try {
      JSON.parse(fs.readFileSync(filePath, 'utf8'));
      return undefined;
    } catch (e) {
      return `not valid JSON (${(e as Error).message})`;
    }
  }
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
