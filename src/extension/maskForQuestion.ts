/**
 * One image masked for one question, for the agent-mode tool and the @attention chat participant:
 * the heatmap in the engine process, the masked image as a model receives it, and where the mask
 * keeps the image (bounding box and share) in words.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AnswerImage } from '../core/answerProvider';
import type { FavouredRegion } from '../core/region';
import type { AttributionSummary, RenderedImages, ViewParameters } from '../shared/protocol';
import { imageRendering } from './answerSource';
import { defaultView } from './config';
import type { EngineClient } from './engineClient';
import { checkedModelParameters } from './modelGuard';
import { workspaceImage as imageInFolders } from './workspaceFile';

export interface MaskedForQuestion {
  imagePath: string;
  question: string;
  view: ViewParameters;
  summary: AttributionSummary;
  /** Preview-size PNGs (original, overlay, masked). */
  previews: RenderedImages;
  /** The masked image at the size and format a model receives (settings vlm.maxImageSide, vlm.imageFormat). */
  masked: AnswerImage;
  region: FavouredRegion | null;
}

/** Small previews: the chat shows the overlay at thumbnail size. */
const PREVIEW_SIDE = 512;

export async function maskForQuestion(
  deps: { context: vscode.ExtensionContext; engine: EngineClient },
  imagePath: string,
  question: string,
  hint: string,
  signal: AbortSignal,
): Promise<MaskedForQuestion> {
  const view: ViewParameters = { ...defaultView(), hint };
  const model = await checkedModelParameters(deps.context);
  const { summary, images } = await deps.engine.request('attribute', { imagePath, question, model, view, previewMaxSide: PREVIEW_SIDE }, { signal });
  const choice = { attributionId: summary.attributionId, view };
  const [masked, region] = await Promise.all([
    deps.engine.request('payload', { ...choice, which: 'masked', ...imageRendering() }, { signal }),
    deps.engine.request('region', choice, { signal }),
  ]);
  return { imagePath, question, view, summary, previews: images, masked, region: region.region };
}

/** The heatmap in one sentence: the favoured region, its share, the model and layer. */
export function describeMask(m: MaskedForQuestion): string {
  const { summary, region } = m;
  const size = `${summary.imageWidth}×${summary.imageHeight}`;
  const where = region
    ? vscode.l10n.t(
        'The map favours x {0}–{1}, y {2}–{3} ({4}×{5} px, {6}% of the image); the rest is faded toward gray.',
        region.box.left,
        region.box.left + region.box.width - 1,
        region.box.top,
        region.box.top + region.box.height - 1,
        region.box.width,
        region.box.height,
        (region.share * 100).toFixed(1),
      )
    : vscode.l10n.t('The map favours no region clearly (no pixel keeps half its intensity).');
  return vscode.l10n.t('{0} ({1} px) masked for “{2}”. {3} CLIP model {4}, layer {5} of {6}.', path.basename(m.imagePath), size, m.question, where, summary.model, summary.layer, summary.numLayers);
}

/**
 * A workspace image named by the tool's input or a chat reference: relative to a workspace
 * folder, or absolute inside one, also after following links (workspaceFile.ts: the string is
 * checked before any file is touched). Anything else is refused with the reason.
 */
export function workspaceImage(input: string): Promise<string> {
  const roots = vscode.workspace.workspaceFolders?.filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath) ?? [];
  return imageInFolders(input, roots, { t: (message, ...args) => vscode.l10n.t(message, ...args) });
}
