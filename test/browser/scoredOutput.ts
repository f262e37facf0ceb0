/** A synthetic batch output folder for the report's browser tests, without running the engine. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { rescoreOutput } from '../../src/core/batch/rescore';
import { tempDir } from '../helpers';

/**
 * n results whose outcomes cycle through the four cells of the paired table (i % 4), each with
 * its thumbnails; the last `failed` of them are failures instead (for Re-run failed). Scored by
 * exact match.
 */
export async function scoredOutput(n: number, failed = 0): Promise<string> {
  const dir = tempDir('ap-report-scored-');
  fs.mkdirSync(path.join(dir, 'thumbs'));
  const jpeg = await sharp({ create: { width: 120, height: 90, channels: 3, background: { r: 200, g: 30, b: 30 } } }).jpeg().toBuffer();
  const answers: Array<[string, string]> = [['red', 'red'], ['red', 'blue'], ['blue', 'red'], ['blue', 'blue']];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `item${i}`;
    const thumbs = { original: `thumbs/${id}.original.jpg`, overlay: `thumbs/${id}.overlay.jpg`, masked: `thumbs/${id}.masked.jpg` };
    for (const t of Object.values(thumbs)) fs.writeFileSync(path.join(dir, t), jpeg);
    const [m, o] = answers[i % 4];
    const common = { id, image: `/data/${id}.png`, question: `what colour is box ${i}? <script>alert(1)</script>`, answer: 'red', category: i % 2 ? 'odd' : 'even', parameters: { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' }, model: 'm', layer: 2, timings: { vision: i }, finishedAt: '' };
    lines.push(JSON.stringify(i >= n - failed ? { ...common, error: { stage: 'vlm', message: 'the endpoint refused the request' } } : { ...common, maskedAnswer: m, originalAnswer: o, outputs: { masked: `masked/${id}.png`, overlay: `overlays/${id}.jpg`, thumbs } }));
  }
  fs.writeFileSync(path.join(dir, 'results.jsonl'), lines.join('\n') + '\n');
  await rescoreOutput(dir, 'exact');
  return dir;
}
