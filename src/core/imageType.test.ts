import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { IMAGE_EXTENSIONS } from './defaults';
import { ACCEPTED_TYPES, sniffImageType } from './imageType';

const pixel = () => sharp({ create: { width: 4, height: 3, channels: 3, background: '#336699' } });

describe('an image file’s real type, from its first bytes', () => {
  it('recognises every type sharp writes, whatever the name', async () => {
    assert.equal(sniffImageType(await pixel().png().toBuffer()), 'png');
    assert.equal(sniffImageType(await pixel().jpeg().toBuffer()), 'jpeg');
    assert.equal(sniffImageType(await pixel().webp().toBuffer()), 'webp');
    assert.equal(sniffImageType(await pixel().gif().toBuffer()), 'gif');
    assert.equal(sniffImageType(await pixel().tiff().toBuffer()), 'tiff');
    assert.equal(sniffImageType(await pixel().avif().toBuffer()), 'avif');
  });

  it('finds SVG behind an XML declaration, a byte-order mark, whitespace, a comment or a doctype', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>';
    for (const lead of ['', '<?xml version="1.0"?>\n', '\uFEFF', '  \n', '<!-- drawn by hand -->\n', '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n']) {
      assert.equal(sniffImageType(Buffer.from(lead + svg)), 'svg', JSON.stringify(lead));
    }
    assert.equal(sniffImageType(Buffer.from('<?xml version="1.0"?><html/>')), undefined);
    assert.equal(sniffImageType(Buffer.from('just text')), undefined);
  });

  it('accepts exactly the types behind IMAGE_EXTENSIONS', () => {
    assert.deepEqual([...ACCEPTED_TYPES].sort(), ['bmp', 'gif', 'jpeg', 'png', 'tiff', 'webp']);
    assert.equal(IMAGE_EXTENSIONS.length, 8);
    for (const refused of ['svg', 'avif', 'heif', 'pdf'] as const) assert.ok(!ACCEPTED_TYPES.has(refused), refused);
  });
});
