import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';
import * as d from './defaults';

interface Contributed {
  type: string | string[];
  default: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** The titled sections. Each also holds the old names of its keys, deprecated (extension/settingRenames.ts), with no default. */
const sections: Array<{ title: string; properties: Record<string, Contributed & { markdownDeprecationMessage?: string }> }> = pkg.contributes.configuration;
const properties: Record<string, Contributed> = Object.fromEntries(
  sections.flatMap((s) => Object.entries(s.properties)).filter(([, p]) => p.markdownDeprecationMessage === undefined),
);

const bounded = (b: d.NumberBounds) => ({ default: b.default, minimum: b.min, maximum: b.max, integer: b.integer });
const listed = (list: readonly unknown[], fallback: unknown) => ({ default: fallback, enum: [...list] });
const plain = (value: unknown) => ({ default: value });
const v = d.DEFAULT_VLM_SETTINGS;

/** What package.json must say for each setting, from the one module that owns it. */
const EXPECTED: Record<string, { default: unknown; enum?: unknown[]; minimum?: number; maximum?: number; integer?: boolean }> = {
  'heatmap.auxiliaryModel': listed(d.AUX_MODELS, d.DEFAULT_AUX),
  'heatmap.layer': plain(null),
  'heatmap.contrast': bounded(d.CONTRAST),
  'heatmap.smoothingKernel': listed(d.KERNEL_SIZES, d.DEFAULT_KERNEL),
  'heatmap.grayLevel': bounded(d.GRAY),
  'heatmap.maskInterpolation': listed(d.INTERPOLATIONS, d.DEFAULT_INTERPOLATION),
  'heatmap.overlayOpacity': bounded(d.OPACITY),
  'heatmap.previewMaxSide': bounded(d.PREVIEW_MAX_SIDE),
  'clip.model': plain(d.DEFAULT_MODEL),
  'clip.dtype': listed(d.DTYPES, d.DEFAULT_DTYPE),
  'clip.revision': plain(d.DEFAULT_REVISION),
  'clip.imageGeometry': listed(d.GEOMETRIES, d.DEFAULT_GEOMETRY),
  'answers.source': listed(d.ANSWER_SOURCES, d.DEFAULT_ANSWER_SOURCE),
  'answers.endpointURL': plain(v.baseURL),
  'answers.endpointModel': plain(v.model),
  'answers.imageDetail': listed(d.IMAGE_DETAILS, v.imageDetail),
  'answers.maxTokens': bounded(d.VLM_MAX_TOKENS),
  'answers.temperature': bounded(d.VLM_TEMPERATURE),
  'answers.systemPrompt': plain(v.systemPrompt),
  'answers.compareWithOriginal': plain(v.compareWithOriginal),
  'answers.timeoutSeconds': bounded(d.VLM_TIMEOUT_SECONDS),
  'answers.maxRetries': bounded(d.VLM_MAX_RETRIES),
  'answers.maxImageSide': bounded(d.VLM_MAX_IMAGE_SIDE),
  'answers.imageFormat': listed(d.IMAGE_FORMATS, v.imageFormat),
  'localModel.model': plain(''),
  'engine.threads': bounded(d.THREADS),
  'engine.idleMinutes': bounded(d.IDLE_MINUTES),
  'engine.modelCacheDir': plain(''),
};

describe('defaults: package.json agrees with core/defaults', () => {
  it('covers every contributed setting, and no other', () => {
    assert.deepEqual(Object.keys(properties).map((k) => k.replace(/^attentionPrompting\./, '')).sort(), Object.keys(EXPECTED).sort());
  });

  it('each setting sits in the section its key names, in the order the sections are listed', () => {
    const prefixes = ['heatmap', 'clip', 'answers', 'localModel', 'engine'];
    const live = sections.map((s) => Object.keys(s.properties).filter((k) => k in properties).map((k) => k.replace(/^attentionPrompting\./, '')));
    assert.deepEqual(live.map((keys) => [...new Set(keys.map((k) => k.split('.')[0]))]), prefixes.map((p) => [p]));
    assert.deepEqual(Object.keys(EXPECTED), live.flat());
  });

  for (const [key, expected] of Object.entries(EXPECTED)) {
    it(`attentionPrompting.${key}: default, enum and bounds`, () => {
      const p = properties[`attentionPrompting.${key}`];
      assert.ok(p, `package.json lacks attentionPrompting.${key}`);
      assert.deepEqual(
        { default: p.default, enum: p.enum, minimum: p.minimum, maximum: p.maximum },
        { default: expected.default, enum: expected.enum, minimum: expected.minimum, maximum: expected.maximum },
      );
      if (expected.integer !== undefined) assert.equal(p.type, expected.integer ? 'integer' : 'number');
    });
  }

  it('the defaults themselves sit within their bounds', () => {
    for (const b of [d.CONTRAST, d.GRAY, d.OPACITY, d.PREVIEW_MAX_SIDE, d.THREADS, d.IDLE_MINUTES, d.VLM_MAX_TOKENS, d.VLM_TEMPERATURE, d.VLM_TIMEOUT_SECONDS, d.VLM_MAX_RETRIES, d.VLM_MAX_IMAGE_SIDE]) {
      assert.ok(b.default >= b.min && b.default <= (b.max ?? Infinity), JSON.stringify(b));
    }
    assert.ok((d.KERNEL_SIZES as readonly number[]).includes(d.DEFAULT_KERNEL));
    assert.ok(d.MODEL_PRESETS.some((p) => p.id === d.DEFAULT_MODEL));
  });

  it('Restricted Mode keeps a repository from setting exactly RESTRICTED_SETTINGS (the image geometry among them), each a live key', () => {
    const restricted: string[] = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations;
    assert.deepEqual([...restricted].sort(), d.RESTRICTED_SETTINGS.map((key) => `attentionPrompting.${key}`).sort());
    for (const key of d.RESTRICTED_SETTINGS) assert.ok(properties[`attentionPrompting.${key}`], `${key} is a registered, live setting`);
    assert.ok((d.RESTRICTED_SETTINGS as readonly string[]).includes('clip.imageGeometry'));
  });

  it('the Explorer menu shows its commands on exactly IMAGE_EXTENSIONS', () => {
    const menus: Array<{ command: string; when: string }> = pkg.contributes.menus['explorer/context'];
    const imageMenus = menus.filter((m) => m.command !== 'attentionPrompting.reviewFolder');
    assert.equal(imageMenus.length, 2);
    for (const m of imageMenus) assert.equal(m.when, d.IMAGE_RESOURCE_WHEN, m.command);
    // And the clause means what the list says (VS Code evaluates `=~` as a JavaScript RegExp).
    const [, source, flags] = /^resourceExtname =~ \/(.*)\/(\w*)$/.exec(d.IMAGE_RESOURCE_WHEN)!;
    const re = new RegExp(source, flags);
    for (const ext of d.IMAGE_EXTENSIONS) {
      assert.ok(re.test(`.${ext}`) && re.test(`.${ext.toUpperCase()}`), ext);
      assert.ok(d.hasImageExtension(`a/b.${ext.toUpperCase()}`), ext);
    }
    for (const other of ['.svg', '.avif', '.jpe', '.tifff', '.png.txt', 'png', '.txt']) {
      assert.ok(!re.test(other), other);
      assert.ok(!d.hasImageExtension(`x${other}`), other);
    }
  });
});

describe('defaults: reading values a repository can set', () => {
  const read = (settings: Record<string, unknown>) => d.readViewSettings((k) => settings[k]);
  const defaults = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 0.5, aux: 'clip' };

  it('keeps valid values and fills in defaults', () => {
    assert.deepEqual(read({}), defaults);
    assert.deepEqual(read({ 'heatmap.contrast': 7.5, 'heatmap.smoothingKernel': 5, 'heatmap.grayLevel': 128, 'heatmap.maskInterpolation': 'nearest', 'heatmap.layer': -3, 'heatmap.overlayOpacity': 0.25 }), {
      contrast: 7.5, kernel: 5, gray: 128, interpolation: 'nearest', layer: -3, opacity: 0.25, aux: 'clip',
    });
  });

  it('clamps numbers out of bounds and replaces what is not a valid value, and says so', () => {
    const told: string[] = [];
    const view = d.readViewSettings(
      (k) => ({ 'heatmap.contrast': 1e9, 'heatmap.smoothingKernel': 4, 'heatmap.grayLevel': 300.4, 'heatmap.maskInterpolation': 'evil', 'heatmap.layer': 2.5, 'heatmap.overlayOpacity': -1, 'heatmap.auxiliaryModel': 'gpt' })[k],
      (name, given, used) => told.push(`${name}:${given}->${used}`),
    );
    assert.deepEqual(view, { contrast: 20, kernel: 3, gray: 255, interpolation: 'lanczos3', layer: null, opacity: 0, aux: 'clip' });
    assert.deepEqual(told.sort(), [
      'heatmap.auxiliaryModel:gpt->clip', 'heatmap.contrast:1000000000->20', 'heatmap.grayLevel:300.4->255', 'heatmap.layer:2.5->null',
      'heatmap.maskInterpolation:evil->lanczos3', 'heatmap.overlayOpacity:-1->0', 'heatmap.smoothingKernel:4->3',
    ]);
    assert.deepEqual(read({ 'heatmap.contrast': '5', 'heatmap.grayLevel': NaN, 'heatmap.layer': '3', 'heatmap.overlayOpacity': null }), defaults);
  });

  it('bounded numbers round integers and keep an absent maximum open', () => {
    assert.equal(d.boundedNumber(d.PREVIEW_MAX_SIDE, 0), 256);
    assert.equal(d.boundedNumber(d.PREVIEW_MAX_SIDE, 1e9), 4096);
    assert.equal(d.boundedNumber(d.PREVIEW_MAX_SIDE, 1000.6), 1001);
    assert.equal(d.boundedNumber(d.VLM_MAX_TOKENS, 100_000), 100_000);
    assert.equal(d.boundedNumber(d.VLM_MAX_TOKENS, 0), 1);
  });
});
