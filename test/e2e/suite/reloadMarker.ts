import * as path from 'node:path';
import type { ViewParameters } from '../../../src/shared/protocol';

/** Written by the reload test just before it reloads the window; read by the next extension host. */
export interface ReloadMarker {
  results: { passed: number; failed: number; failures: string[] };
  imagePath: string;
  question: string;
  view: ViewParameters;
  /** The review report left open across the reload, */
  report: string;
  /** with this item recorded as failed in its results. */
  failedId: string;
}

/** Beside the phase's workspace, in the phase's own temporary folder. */
export const RELOAD_MARKER = () => path.join(process.env.E2E_WORKSPACE!, '..', 'reload-marker.json');
