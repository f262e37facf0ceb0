import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideModel, ModelChoiceInputs } from './modelChoice';

const DEFAULT = 'Xenova/clip-vit-large-patch14-336';
const base: ModelChoiceInputs = {
  setting: { effective: DEFAULT, explicitlySet: false },
  defaultModel: DEFAULT,
  lastExplicit: undefined,
  confirmedDownloads: [],
  defaultCached: false,
};

test('a model the user set is used as set', () => {
  assert.deepEqual(decideModel({ ...base, setting: { effective: '/models/planted-clip', explicitlySet: true } }), { kind: 'use', model: '/models/planted-clip' });
  // Choosing the default explicitly is a choice too.
  assert.deepEqual(decideModel({ ...base, setting: { effective: DEFAULT, explicitlySet: true } }), { kind: 'use', model: DEFAULT });
});

test('the setting reads as its default after the user chose another model: refused, never downloaded', () => {
  // What a remote window does to a machine-scoped key left in the local user settings.
  const d = decideModel({ ...base, lastExplicit: '/models/planted-clip', confirmedDownloads: [DEFAULT] });
  assert.deepEqual(d, { kind: 'lost', defaultModel: DEFAULT, previous: '/models/planted-clip' });
});

test('the default, never chosen and not on disk, is downloaded only after the user confirms', () => {
  assert.deepEqual(decideModel(base), { kind: 'confirm-download', model: DEFAULT });
  assert.deepEqual(decideModel({ ...base, confirmedDownloads: [DEFAULT] }), { kind: 'use', model: DEFAULT });
  assert.deepEqual(decideModel({ ...base, defaultCached: true }), { kind: 'use', model: DEFAULT });
});

test('an empty or blank setting counts as the default', () => {
  assert.deepEqual(decideModel({ ...base, setting: { effective: '  ', explicitlySet: false }, lastExplicit: '/m' }), { kind: 'lost', defaultModel: DEFAULT, previous: '/m' });
});
