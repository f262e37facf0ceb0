/** The heatmap panel's webview: three images, the controls, and Ask / Save / Copy. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { AUX_MODELS, CONTRAST, GRAY, INTERPOLATIONS, KERNEL_SIZES, OPACITY, type AuxModel, type NumberBounds } from '../core/defaults';
import type { Interpolation, PanelHostVocabulary, PanelState, PanelVocabulary, RenderedImages, RestoredPanel, ViewParameters } from '../shared/protocol';
import { format, type HeatmapStrings } from '../shared/webviewStrings';
import { connect, pageStrings } from './channel';

const { host, api } = connect<PanelVocabulary, PanelHostVocabulary>();
const t = pageStrings<HeatmapStrings>();

/** Text for an attribute or element content. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const range = (id: string, b: NumberBounds) => `<input type="range" id="${id}" min="${b.min}" max="${b.max}" step="${b.step}">`;
const INTERPOLATION_LABELS: Record<Interpolation, string> = { lanczos3: t.lanczos, cubic: t.cubic, linear: t.linear, nearest: t.nearest };
const AUX_LABELS: Record<AuxModel, string> = { clip: t.auxClip, lvlm: t.auxLvlm };

const app = document.getElementById('app')!;
app.innerHTML = `
<header class="toolbar">
  <vscode-textfield id="question" aria-label="${esc(t.question)}" placeholder="${esc(t.question)}"></vscode-textfield>
  <vscode-button id="ask" title="${esc(t.askTitle)}">${esc(t.ask)}</vscode-button>
  <vscode-button id="save" secondary title="${esc(t.saveTitle)}">${esc(t.save)}</vscode-button>
  <vscode-button id="copy" secondary title="${esc(t.copyTitle)}">${esc(t.copy)}</vscode-button>
</header>
<div id="status" role="status" aria-live="polite"></div>
<section id="failure" class="failure" role="alert" hidden>
  <p id="failureMessage"></p>
  <vscode-button id="retry">${esc(t.retry)}</vscode-button>
  <vscode-button id="showLog" secondary>${esc(t.showLog)}</vscode-button>
</section>
<section id="images" class="images">
  <figure><img id="original" alt="${esc(t.originalAlt)}"><figcaption>${esc(t.original)}</figcaption></figure>
  <figure><img id="overlay" alt="${esc(t.heatmapAlt)}"><figcaption>${esc(t.heatmap)}</figcaption></figure>
  <figure><img id="masked" alt="${esc(t.maskedAlt)}"><figcaption>${esc(t.masked)}</figcaption></figure>
</section>
<section id="controls" class="controls" aria-label="${esc(t.controls)}">
  <label for="contrast">${esc(t.contrast)} <output id="contrastValue"></output></label>
  ${range('contrast', CONTRAST)}
  <label for="kernel">${esc(t.smoothness)}</label>
  <vscode-single-select id="kernel" aria-label="${esc(t.smoothnessLabel)}">
    ${KERNEL_SIZES.map((k) => `<vscode-option value="${k}">${k}×${k}</vscode-option>`).join('')}
  </vscode-single-select>
  <label for="gray">${esc(t.gray)} <output id="grayValue"></output></label>
  ${range('gray', GRAY)}
  <label for="interpolation">${esc(t.interpolation)}</label>
  <vscode-single-select id="interpolation" aria-label="${esc(t.interpolation)}">
    ${INTERPOLATIONS.map((i) => `<vscode-option value="${i}">${esc(INTERPOLATION_LABELS[i])}</vscode-option>`).join('')}
  </vscode-single-select>
  <label for="aux">${esc(t.aux)}</label>
  <vscode-single-select id="aux" aria-label="${esc(t.auxLabel)}">
    ${AUX_MODELS.map((a) => `<vscode-option value="${a}">${esc(AUX_LABELS[a])}</vscode-option>`).join('')}
  </vscode-single-select>
  <label for="layer">${esc(t.layer)}</label>
  <vscode-single-select id="layer" aria-label="${esc(t.layerLabel)}"></vscode-single-select>
  <label for="opacity">${esc(t.opacity)} <output id="opacityValue"></output></label>
  ${range('opacity', OPACITY)}
  <label for="hint">${esc(t.hint)}</label>
  <vscode-textfield id="hint" aria-label="${esc(t.hintLabel)}" placeholder="${esc(t.hintPlaceholder)}"></vscode-textfield>
</section>
<footer id="info"></footer>`;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
type Field = HTMLElement & { value: string };
const question = $<Field>('question');
const hint = $<Field>('hint');
const contrast = $<HTMLInputElement>('contrast');
const gray = $<HTMLInputElement>('gray');
const opacity = $<HTMLInputElement>('opacity');
const kernel = $<Field>('kernel');
const interpolation = $<Field>('interpolation');
const layer = $<Field>('layer');
const aux = $<Field>('aux');
const status = $<HTMLDivElement>('status');
const info = $<HTMLElement>('info');
const askButton = $<HTMLElement & { disabled: boolean }>('ask');

const saveButton = $<HTMLElement & { disabled: boolean }>('save');
const copyButton = $<HTMLElement & { disabled: boolean }>('copy');

let state: PanelState | undefined;
let view: ViewParameters | undefined;
let layerOptionsFor = '';
/** The masked image as shown, for Copy. */
let maskedBlob: Blob | undefined;
const objectUrls: Partial<Record<'original' | 'overlay' | 'masked', string>> = {};

/** What a window reload needs to bring this panel back (read by the host's panel serializer). */
function saveState(): void {
  if (!state) return;
  const saved: RestoredPanel = { imagePath: state.imagePath, question: question.value || state.question, view: view ?? state.view };
  api.setState(saved);
}

function showOutputs(): void {
  $('contrastValue').textContent = contrast.value;
  $('grayValue').textContent = gray.value;
  $('opacityValue').textContent = `${Math.round(Number(opacity.value) * 100)}%`;
}

function readView(): ViewParameters {
  return {
    contrast: Number(contrast.value),
    kernel: Number(kernel.value),
    gray: Number(gray.value),
    interpolation: interpolation.value as Interpolation,
    layer: layer.value === '' || layer.value === 'default' ? null : Number(layer.value),
    opacity: Number(opacity.value),
    aux: aux.value as AuxModel,
    hint: hint.value,
  };
}

function writeView(v: ViewParameters): void {
  contrast.value = String(v.contrast);
  gray.value = String(v.gray);
  opacity.value = String(v.opacity);
  kernel.value = String(v.kernel);
  interpolation.value = v.interpolation;
  layer.value = v.layer === null ? 'default' : String(v.layer);
  aux.value = v.aux;
  if (hint.value !== v.hint) hint.value = v.hint;
  (hint as Field & { disabled: boolean }).disabled = v.aux === 'lvlm';
  hint.title = v.aux === 'lvlm' ? t.hintUnusedLvlm : '';
  showOutputs();
}

function fillLayers(numLayers: number | undefined, defaultLayer: number | undefined): void {
  // Another auxiliary model can have as many layers and another default.
  if (numLayers === undefined || `${numLayers}:${defaultLayer}` === layerOptionsFor) return;
  layerOptionsFor = `${numLayers}:${defaultLayer}`;
  layer.innerHTML =
    `<vscode-option value="default">${esc(format(t.defaultLayer, defaultLayer ?? ''))}</vscode-option>` +
    Array.from({ length: numLayers }, (_, i) => `<vscode-option value="${i}">${i}</vscode-option>`).join('');
}

let timer: ReturnType<typeof setTimeout> | undefined;
function viewChanged(immediate = false): void {
  showOutputs();
  clearTimeout(timer);
  const send = () => {
    view = readView();
    saveState();
    host.notify('viewChanged', { view });
  };
  if (immediate) send();
  else timer = setTimeout(send, 120);
}

for (const el of [contrast, gray, opacity]) el.addEventListener('input', () => viewChanged());
for (const el of [kernel, interpolation, layer]) el.addEventListener('change', () => viewChanged(true));
// Another model's layers: back to its default layer.
aux.addEventListener('change', () => {
  layer.value = 'default';
  viewChanged(true);
});
hint.addEventListener('change', () => viewChanged(true));
hint.addEventListener('keydown', (e) => e.key === 'Enter' && viewChanged(true));
question.addEventListener('input', () => saveState());

const ask = () => host.notify('ask', { question: question.value });
askButton.addEventListener('click', ask);
question.addEventListener('keydown', (e) => (e as KeyboardEvent).key === 'Enter' && (e as KeyboardEvent).ctrlKey && ask());
saveButton.addEventListener('click', () => host.notify('save', undefined));
$('retry').addEventListener('click', () => host.notify('retry', undefined));
$('showLog').addEventListener('click', () => host.notify('showLog', undefined));
copyButton.addEventListener('click', () => {
  if (!maskedBlob) return;
  try {
    navigator.clipboard.write([new ClipboardItem({ 'image/png': maskedBlob })]).then(
      () => setStatus(t.copied),
      (e: Error) => host.notify('copyFailed', { message: e.message }),
    );
  } catch (e) {
    host.notify('copyFailed', { message: (e as Error).message });
  }
});

function setStatus(text: string, kind: 'info' | 'error' | 'busy' = 'info'): void {
  status.className = kind;
  status.innerHTML = kind === 'busy' ? '<vscode-progress-ring></vscode-progress-ring>' : '';
  status.append(document.createTextNode(text));
}

/** A failed panel shows the error with Retry and Show Log, not empty frames and live controls. */
function showFailure(message: string | undefined): void {
  const failed = message !== undefined;
  document.body.dataset.failed = String(failed);
  $('failure').hidden = !failed;
  $('failureMessage').textContent = message ?? '';
  $('images').hidden = failed;
  $('controls').hidden = failed;
  saveButton.disabled = failed;
  copyButton.disabled = failed;
}

function render(s: PanelState): void {
  state = s;
  document.body.dataset.file = s.fileName;
  if (document.activeElement !== question) question.value = s.question;
  fillLayers(s.numLayers, s.defaultLayer);
  view = s.view;
  writeView(s.view);
  saveState();
  askButton.disabled = !s.canAsk || !!s.error;
  askButton.title = s.canAsk ? t.askTitle : t.askUntrusted;
  showFailure(s.busy ? undefined : s.error?.message);
  if (s.busy) setStatus(s.busy, 'busy');
  else setStatus('');
  const sum = s.summary;
  info.textContent = sum
    ? [
        s.fileName,
        `${sum.imageWidth}×${sum.imageHeight}`,
        sum.model,
        format(t.layerOf, sum.layer, sum.numLayers),
        format(t.mapSize, sum.grid.join('×')),
        // The LVLM map reads the question in the model's own prompt: no CLIP token count.
        sum.aux === 'lvlm' ? undefined : format(t.tokens, sum.tokens) + (sum.truncated ? ` ${t.truncated}` : ''),
        Object.entries(sum.timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', '),
      ]
        .filter((part) => part !== undefined)
        .join(' · ')
    : s.fileName;
}

function showImages(images: RenderedImages): void {
  for (const k of ['original', 'overlay', 'masked'] as const) {
    const blob = new Blob([images[k] as Uint8Array<ArrayBuffer>], { type: 'image/png' });
    if (k === 'masked') maskedBlob = blob;
    const img = $<HTMLImageElement>(k);
    const previous = objectUrls[k];
    objectUrls[k] = URL.createObjectURL(blob);
    img.src = objectUrls[k]!;
    img.width = images.width;
    img.height = images.height;
    if (previous) URL.revokeObjectURL(previous);
  }
  document.body.dataset.rendered = String(Date.now());
}

host
  .onNotification('state', render)
  .onNotification('images', showImages)
  .onNotification('busy', ({ message }) => {
    if (message) setStatus(message, 'busy');
    else if (!state?.error) setStatus('');
  });

host.notify('ready', undefined);
