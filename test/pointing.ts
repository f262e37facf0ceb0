/** Pointing on the planted fixture: random cases, and where a heatmap peaks (shared by the planted and quantized tests). */
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { renderOutputs } from '../src/core/render';
import { Region, argmax, inside, rng } from './helpers';

export interface Case {
  colour: string;
  width: number;
  height: number;
  region: Region;
  question: string;
}

export function randomCases(seed: number, n: number): Case[] {
  const r = rng(seed);
  const colours = ['red', 'green', 'blue', 'yellow', 'white', 'black'];
  const phrasings = (c: string) => [c, `a ${c} square`, `where is the ${c} box?`, `What is in the ${c.toUpperCase()} region of this picture?`];
  const cases: Case[] = [];
  for (let i = 0; i < n; i++) {
    const width = 160 + Math.floor(r() * 700);
    const height = Math.max(120, Math.min(1000, Math.round(width * (0.5 + r() * 1.5))));
    const rw = Math.round(width * (0.22 + r() * 0.15));
    const rh = Math.round(height * (0.22 + r() * 0.15));
    const region = { left: Math.floor(r() * (width - rw)), top: Math.floor(r() * (height - rh)), width: rw, height: rh };
    const colour = colours[i % colours.length];
    const ph = phrasings(colour);
    cases.push({ colour, width, height, region, question: ph[Math.floor(r() * ph.length)] });
  }
  return cases;
}

export function peak(mask: Buffer, width: number): { x: number; y: number } {
  const max = mask[argmax(mask)];
  let sx = 0, sy = 0, n = 0;
  for (let p = 0; p < mask.length; p++) if (mask[p] === max) (sx += p % width), (sy += Math.floor(p / width)), n++;
  return { x: Math.round(sx / n), y: Math.round(sy / n) };
}

/** Where the full-resolution heatmap peaks, and mean mask inside/outside the region. */
export async function point(engine: AttentionPromptEngine, png: Buffer, question: string, region: Region) {
  const img = await decodeImage(png);
  const a = await engine.attribute(img, { question });
  const out = await renderOutputs(img, a.mask, a.grid, { interpolation: 'lanczos3', gray: 0 });
  // The 8-bit mask has a plateau at its maximum: its centroid is where the heatmap peaks.
  const { x, y } = peak(out.fullMask, img.width);
  let sumIn = 0, nIn = 0, sumOut = 0, nOut = 0;
  for (let p = 0; p < out.fullMask.length; p++) {
    if (inside(region, p % img.width, Math.floor(p / img.width))) (sumIn += out.fullMask[p]), nIn++;
    else (sumOut += out.fullMask[p]), nOut++;
  }
  // Low-resolution maps on their own: their peaks must fall in a cell overlapping the region.
  const [rows, cols] = a.grid;
  const cellHit = (idx: number) => {
    const r = Math.floor(idx / cols), c = idx % cols;
    const cx = ((c + 0.5) / cols) * img.width, cy = ((r + 0.5) / rows) * img.height;
    const grow = { left: region.left - img.width / cols / 2, top: region.top - img.height / rows / 2, width: region.width + img.width / cols, height: region.height + img.height / rows };
    return inside(grow, cx, cy);
  };
  return { x, y, meanIn: sumIn / nIn / 255, meanOut: sumOut / nOut / 255, clsHit: cellHit(argmax(a.clsMap)), patchHit: cellHit(argmax(a.patchMap)), img, a };
}

