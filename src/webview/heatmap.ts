/** The heatmap panel's webview: three images, the controls, and Ask / Save / Copy. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import type { HostToPanel, Interpolation, PanelState, PanelToHost, ViewParameters } from '../shared/protocol';
import { isMessage } from '../shared/protocol';
import { CONTRAST, GRAY, INTERPOLATIONS, KERNEL_SIZES, NumberBounds, OPACITY } from '../core/defaults';

declare function acquireVsCodeApi(): { postMessage(m: PanelToHost): void; setState(s: unknown): void; getState(): unknown };
const vscode = acquireVsCodeApi();
const post = (m: PanelToHost) => vscode.postMessage(m);

const range = (id: string, b: NumberBounds) => `<input type="range" id="${id}" min="${b.min}" max="${b.max}" step="${b.step}">`;
const INTERPOLATION_LABELS: Record<Interpolation, string> = { lanczos3: 'Lanczos', cubic: 'Cubic', linear: 'Linear', nearest: 'Nearest' };

const app = document.getElementById('app')!;
app.innerHTML = `
<header class="toolbar">
  <vscode-textfield id="question" aria-label="Question" placeholder="Question"></vscode-textfield>
  <vscode-button id="ask" title="Ask the vision-language model about the masked image (Ctrl+Enter)">Ask</vscode-button>
  <vscode-button id="save" secondary title="Save the full-resolution masked image next to the original">Save masked image</vscode-button>
  <vscode-button id="copy" secondary title="Copy the masked image">Copy</vscode-button>
</header>
<div id="status" role="status" aria-live="polite"></div>
<section class="images">
  <figure><img id="original" alt="Original image"><figcaption>Original</figcaption></figure>
  <figure><img id="overlay" alt="Heatmap overlay"><figcaption>Heatmap</figcaption></figure>
  <figure><img id="masked" alt="Masked image"><figcaption>Masked (sent to the VLM)</figcaption></figure>
</section>
<section class="controls" aria-label="Mask parameters">
  <label for="contrast">Contrast <output id="contrastValue"></output></label>
  ${range('contrast', CONTRAST)}
  <label for="kernel">Smoothness</label>
  <vscode-single-select id="kernel" aria-label="Smoothness (box filter size)">
    ${KERNEL_SIZES.map((k) => `<vscode-option value="${k}">${k}×${k}</vscode-option>`).join('')}
  </vscode-single-select>
  <label for="gray">Gray level <output id="grayValue"></output></label>
  ${range('gray', GRAY)}
  <label for="interpolation">Interpolation</label>
  <vscode-single-select id="interpolation" aria-label="Interpolation">
    ${INTERPOLATIONS.map((i) => `<vscode-option value="${i}">${INTERPOLATION_LABELS[i]}</vscode-option>`).join('')}
  </vscode-single-select>
  <label for="layer">Layer</label>
  <vscode-single-select id="layer" aria-label="CLIP layer"></vscode-single-select>
  <label for="opacity">Overlay opacity <output id="opacityValue"></output></label>
  ${range('opacity', OPACITY)}
  <label for="hint">Hint text</label>
  <vscode-textfield id="hint" aria-label="Hint text: compute the map from this text instead of the question" placeholder="Optional: what the map should look for"></vscode-textfield>
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
const status = $<HTMLDivElement>('status');
const info = $<HTMLElement>('info');
const askButton = $<HTMLElement & { disabled: boolean }>('ask');

let state: PanelState | undefined;
let view: ViewParameters | undefined;
let layerOptionsFor = -1;

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
  if (hint.value !== v.hint) hint.value = v.hint;
  showOutputs();
}

function fillLayers(numLayers: number | undefined, defaultLayer: number | undefined): void {
  if (numLayers === undefined || numLayers === layerOptionsFor) return;
  layerOptionsFor = numLayers;
  layer.innerHTML =
    `<vscode-option value="default">Default (${defaultLayer})</vscode-option>` +
    Array.from({ length: numLayers }, (_, i) => `<vscode-option value="${i}">${i}</vscode-option>`).join('');
}

let timer: ReturnType<typeof setTimeout> | undefined;
function viewChanged(immediate = false): void {
  showOutputs();
  clearTimeout(timer);
  const send = () => {
    view = readView();
    vscode.setState({ view });
    post({ type: 'viewChanged', view });
  };
  if (immediate) send();
  else timer = setTimeout(send, 120);
}

for (const el of [contrast, gray, opacity]) el.addEventListener('input', () => viewChanged());
for (const el of [kernel, interpolation, layer]) el.addEventListener('change', () => viewChanged(true));
hint.addEventListener('change', () => viewChanged(true));
hint.addEventListener('keydown', (e) => e.key === 'Enter' && viewChanged(true));

const ask = () => post({ type: 'ask', question: question.value });
askButton.addEventListener('click', ask);
question.addEventListener('keydown', (e) => (e as KeyboardEvent).key === 'Enter' && (e as KeyboardEvent).ctrlKey && ask());
$('save').addEventListener('click', () => post({ type: 'save' }));
$('copy').addEventListener('click', () => {
  const img = $<HTMLImageElement>('masked');
  if (!img.src) return;
  try {
    const blob = fetch(img.src).then((r) => r.blob());
    navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })]).then(
      () => setStatus('Copied the masked image.'),
      (e: Error) => post({ type: 'copyFailed', message: e.message }),
    );
  } catch (e) {
    post({ type: 'copyFailed', message: (e as Error).message });
  }
});

function setStatus(text: string, kind: 'info' | 'error' | 'busy' = 'info'): void {
  status.className = kind;
  status.innerHTML = kind === 'busy' ? '<vscode-progress-ring></vscode-progress-ring>' : '';
  status.append(document.createTextNode(text));
}

function render(s: PanelState): void {
  state = s;
  document.body.dataset.file = s.fileName;
  if (document.activeElement !== question) question.value = s.question;
  fillLayers(s.numLayers, s.defaultLayer);
  writeView(s.view);
  askButton.disabled = !s.canAsk;
  askButton.title = s.canAsk ? 'Ask the vision-language model about the masked image (Ctrl+Enter)' : 'Sending images needs a trusted workspace';
  if (s.busy) setStatus(s.busy, 'busy');
  else if (s.error) setStatus(s.error, 'error');
  else setStatus('');
  const sum = s.summary;
  info.textContent = sum
    ? `${s.fileName} · ${sum.imageWidth}×${sum.imageHeight} · ${sum.model} · layer ${sum.layer} of ${sum.numLayers} · ${sum.grid.join('×')} map · ${sum.tokens} tokens${sum.truncated ? ' (cut at 77)' : ''} · ` +
      Object.entries(sum.timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')
    : s.fileName;
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const m = event.data;
  if (!isMessage<HostToPanel>(m, ['state', 'images', 'busy', 'error'])) return;
  switch (m.type) {
    case 'state':
      render(m.state);
      break;
    case 'images':
      for (const k of ['original', 'overlay', 'masked'] as const) {
        const img = $<HTMLImageElement>(k);
        img.src = m.images[k];
        img.width = m.images.width;
        img.height = m.images.height;
      }
      document.body.dataset.rendered = String(Date.now());
      break;
    case 'busy':
      if (m.message) setStatus(m.message, 'busy');
      else if (!state?.error) setStatus('');
      break;
    case 'error':
      setStatus(m.message, 'error');
      break;
  }
});

const saved = vscode.getState() as { view?: ViewParameters } | undefined;
if (saved?.view) view = saved.view;
post({ type: 'ready' });
