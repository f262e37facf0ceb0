/**
 * config.json numbers that would size something absurd, or reach a library as a bare "Expected
 * positive integer … received -64": refused at load, naming the field, the file and the value.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { LocalVlm } from '../src/core/lvlm/localVlm';
import { ROOT, fixtureModel, tempDir } from './helpers';

/** A copy of a model folder whose config.json has one field changed. */
function withConfig(src: string, field: string, value: unknown): string {
  const dir = path.join(tempDir('ap-config-'), path.basename(src));
  fs.cpSync(src, dir, { recursive: true });
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8'));
  const keys = field.split('.');
  let o = config;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys[keys.length - 1]] = value;
  fs.writeFileSync(file, JSON.stringify(config));
  return dir;
}

const expectField = (dir: string, field: string, value: string) => (e: Error & { code?: string }) => {
  assert.equal(e.code, 'model-structure', e.message);
  assert.ok(e.message.startsWith(path.join(dir, 'config.json')), e.message);
  assert.ok(e.message.includes(`"${field}" is ${value}; it must be a whole number from`), e.message);
  return true;
};

describe('a LLaVA config.json with numbers out of range', () => {
  const TINY = path.join(ROOT, 'test', 'fixtures', 'llava', 'tiny-llava');
  for (const [field, value, shown] of [
    ['text_config.num_hidden_layers', 1e12, '1000000000000'],
    ['vision_config.image_size', -64, '-64'],
    ['text_config.max_position_embeddings', 2.5, '2.5'],
  ] as const) {
    it(`${field} = ${shown}: refused at load, naming the field and the file`, { timeout: 30_000 }, async () => {
      const dir = withConfig(TINY, field, value);
      const v = new LocalVlm({ model: dir, cacheDir: tempDir(), offline: true, threads: 1 });
      try {
        const image = await decodeImage(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#808080' } }).png().toBuffer());
        await assert.rejects(v.lvlmMap({ image, question: 'what is it?' }), expectField(dir, field, shown));
      } finally {
        await v.dispose();
      }
    });
  }
});

describe('a CLIP config.json with numbers out of range', () => {
  it('vision_config.image_size = -64: refused at load, naming the field and the file', { timeout: 30_000 }, async () => {
    const dir = withConfig(fixtureModel('tiny-clip'), 'vision_config.image_size', -64);
    await assert.rejects(AttentionPromptEngine.load({ model: dir, cacheDir: tempDir(), threads: 1 }), expectField(dir, 'vision_config.image_size', '-64'));
  });
});
