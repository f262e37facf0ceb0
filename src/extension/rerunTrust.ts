/**
 * Re-run failed resumes a run from its output folder's settings.json, a file anyone who can write
 * the folder can edit: its `input` would point the resumed run — and every image it sends to a VLM —
 * at another folder. The trust anchor is this host's own memory of the runs it started (output
 * folder → input, kept in globalState): a resume over the input it remembers goes ahead; any other
 * input (changed, or a run this host never started) needs the user's modal confirmation, naming
 * both folders.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';

const REVIEW_INPUTS_KEY = 'attentionPrompting.reviewInputs';
/** Runs remembered (newest kept): enough for any person's reports, small in globalState. */
export const REVIEW_INPUTS_KEPT = 200;

/** Paths compared as the file system does: case-insensitively on Windows. */
function samePath(a: string, b: string): boolean {
  const norm = (p: string) => (process.platform === 'win32' ? path.resolve(p).toLowerCase() : path.resolve(p));
  return norm(a) === norm(b);
}

/** What Re-run failed may do with the input settings.json names, given what this host remembers. */
export type RerunInputDecision = { kind: 'resume' } | { kind: 'changed'; remembered: string } | { kind: 'unknown' };

export function decideRerunInput(remembered: string | undefined, recorded: string): RerunInputDecision {
  if (remembered === undefined) return { kind: 'unknown' };
  return samePath(remembered, recorded) ? { kind: 'resume' } : { kind: 'changed', remembered };
}

/** The inputs of the review runs this host started, by output folder. */
export class ReviewInputs {
  constructor(private readonly memento: vscode.Memento) {}

  private entries(): Array<[string, string]> {
    const stored = this.memento.get<unknown>(REVIEW_INPUTS_KEY);
    return Array.isArray(stored) ? stored.filter((e): e is [string, string] => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string') : [];
  }

  inputOf(outDir: string): string | undefined {
    return this.entries().find(([out]) => samePath(out, outDir))?.[1];
  }

  async remember(outDir: string, input: string): Promise<void> {
    const rest = this.entries().filter(([out]) => !samePath(out, outDir));
    await this.memento.update(REVIEW_INPUTS_KEY, [[path.resolve(outDir), path.resolve(input)], ...rest].slice(0, REVIEW_INPUTS_KEPT));
  }
}

/**
 * Whether Re-run failed may resume the run in `outDir` over `input` (read from its settings.json):
 * at once when it is the input this host started that run with, else only if the user confirms.
 */
export async function confirmRerunInput(inputs: ReviewInputs, outDir: string, input: string, sendsImages: boolean): Promise<boolean> {
  const decision = decideRerunInput(inputs.inputOf(outDir), input);
  if (decision.kind === 'resume') return true;
  const resume = vscode.l10n.t('Resume over {0}', path.basename(input));
  const message =
    decision.kind === 'changed'
      ? vscode.l10n.t('The settings of {0} now name {1} as the run’s input, but the run was started on {2}.', outDir, input, decision.remembered)
      : vscode.l10n.t('Re-run failed would resume {0} over {1}, as its settings.json says; this window did not start that run.', outDir, input);
  const detail = sendsImages
    ? vscode.l10n.t('Resuming reads the images {0} names and sends them to the answer model. Continue only if you meant that input.', input)
    : vscode.l10n.t('Resuming reads the images {0} names. Continue only if you meant that input.', input);
  const choice = await vscode.window.showWarningMessage(message, { modal: true, detail }, resume);
  return choice === resume;
}
