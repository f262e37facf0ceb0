/**
 * Scoring an answer against an item's ground truth: the VQA evaluation's answer normalisation,
 * normalised exact match and containment for short answers, the chosen option for multiple
 * choice, and (judge.ts) a 0–1 grade from a model for open answers.
 *
 * The normalisation follows the official VQA evaluation script (GT-Vision-Lab/VQA,
 * PythonEvaluationTools/vqaEvaluation/vqaEval.py: `evaluate` strips newlines and tabs, then
 * `processPunctuation`, then `processDigitArticle`). One deliberate difference: the official
 * contraction table maps to a mix of typographic (’) and ASCII (') apostrophes, so "dont" and
 * "don't" would never match; here ’ is read as ' first and the table maps to ASCII forms.
 */

/** vqaEval.py `self.punct` (the Python 3 version of the script). */
const VQA_PUNCTUATION = [';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'];

/** vqaEval.py `self.manualMap`: number words become digits. */
const VQA_NUMBER_WORDS: Record<string, string> = {
  none: '0', zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10',
};

/** vqaEval.py `self.articles`. */
const VQA_ARTICLES = new Set(['a', 'an', 'the']);

/**
 * vqaEval.py `self.contractions`, keys as written there without apostrophes (or with one
 * missing), values with ASCII apostrophes.
 */
const VQA_CONTRACTIONS: Record<string, string> = Object.fromEntries(
  (
    "aint ain't|arent aren't|cant can't|couldve could've|couldnt couldn't|couldn'tve couldn't've|couldnt've couldn't've|didnt didn't|doesnt doesn't|" +
    "dont don't|hadnt hadn't|hadnt've hadn't've|hadn'tve hadn't've|hasnt hasn't|havent haven't|hed he'd|hed've he'd've|he'dve he'd've|hes he's|" +
    "howd how'd|howll how'll|hows how's|id've i'd've|i'dve i'd've|im i'm|ive i've|isnt isn't|itd it'd|itd've it'd've|it'dve it'd've|itll it'll|" +
    "maam ma'am|mightnt mightn't|mightnt've mightn't've|mightn'tve mightn't've|mightve might've|mustnt mustn't|mustve must've|neednt needn't|" +
    "notve not've|oclock o'clock|oughtnt oughtn't|ow's'at 'ow's'at|'ows'at 'ow's'at|'ow'sat 'ow's'at|shant shan't|shed've she'd've|she'dve she'd've|" +
    "shouldve should've|shouldnt shouldn't|shouldnt've shouldn't've|shouldn'tve shouldn't've|somebodyd somebody'd|somebodyd've somebody'd've|" +
    "somebody'dve somebody'd've|somebodyll somebody'll|somebodys somebody's|someoned someone'd|someoned've someone'd've|someone'dve someone'd've|" +
    "someonell someone'll|someones someone's|somethingd something'd|somethingd've something'd've|something'dve something'd've|somethingll something'll|" +
    "thats that's|thered there'd|thered've there'd've|there'dve there'd've|therere there're|theres there's|theyd they'd|theyd've they'd've|" +
    "they'dve they'd've|theyll they'll|theyre they're|theyve they've|twas 'twas|wasnt wasn't|wed've we'd've|we'dve we'd've|weve we've|werent weren't|" +
    "whatll what'll|whatre what're|whats what's|whatve what've|whens when's|whered where'd|wheres where's|whereve where've|whod who'd|" +
    "whod've who'd've|who'dve who'd've|wholl who'll|whos who's|whove who've|whyll why'll|whyre why're|whys why's|wont won't|wouldve would've|" +
    "wouldnt wouldn't|wouldnt've wouldn't've|wouldn'tve wouldn't've|yall y'all|yall'll y'all'll|y'allll y'all'll|yall'd've y'all'd've|" +
    "y'alld've y'all'd've|y'all'dve y'all'd've|youd you'd|youd've you'd've|you'dve you'd've|youll you'll|youre you're|youve you've"
  )
    .split('|')
    .map((pair) => pair.split(' ') as [string, string]),
);

/** vqaEval.py `commaStrip`: a comma between digits ("1,000"). */
const COMMA_BETWEEN_DIGITS = /(\d)(,)(\d)/;
/**
 * vqaEval.py `periodStrip` is `(?!<=\d)(\.)(?!\d)`: its first group is a lookahead (not the
 * lookbehind it looks like), which never blocks, so every period not followed by a digit goes.
 */
const PERIOD_NOT_BEFORE_DIGIT = /\.(?!\d)/g;

/** vqaEval.py `processPunctuation`. */
function processPunctuation(text: string): string {
  let out = text;
  const dropEntirely = COMMA_BETWEEN_DIGITS.test(text);
  for (const p of VQA_PUNCTUATION) {
    // A mark next to a space (or any mark, when the text has a digit-grouping comma) is removed;
    // one inside a word becomes a space ("black/white" → "black white").
    const replacement = dropEntirely || text.includes(p + ' ') || text.includes(' ' + p) ? '' : ' ';
    out = out.split(p).join(replacement);
  }
  return out.replace(PERIOD_NOT_BEFORE_DIGIT, '');
}

/** vqaEval.py `processDigitArticle`. */
function processDigitArticle(text: string): string {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean).map((w) => VQA_NUMBER_WORDS[w] ?? w).filter((w) => !VQA_ARTICLES.has(w));
  return words.map((w) => VQA_CONTRACTIONS[w] ?? w).join(' ');
}

/** The VQA evaluation's normalisation of an answer: case, punctuation, number words, articles, contractions. */
export function normalizeAnswer(text: string): string {
  const flat = text.replace(/[\n\t]/g, ' ').replace(/[\u2018\u2019]/g, "'").trim();
  return processDigitArticle(processPunctuation(flat));
}

/** An item's ground truth, as a JSONL line gives it. */
export interface GroundTruth {
  /** One accepted answer or several; for multiple choice, the option's letter or its text. */
  answer?: string | string[];
  /** Multiple-choice options, lettered A, B, C… in this order. */
  choices?: string[];
  category?: string;
}

/** How one answer scored. Binary scores are 0 or 1 so they average into accuracies. */
export interface AnswerScore {
  /** Normalised answer equals a normalised accepted answer. */
  exact: 0 | 1;
  /** A normalised accepted answer appears in the normalised answer as whole words. */
  contains: 0 | 1;
  /** Multiple choice: the option the answer picked (a letter, or null when none or several), and whether it is the right one. */
  choice?: { picked: string | null; correct: 0 | 1 };
  /** The judge's grade in [0, 1] (judge.ts), when asked for. */
  judge?: { score: number; model: string; prompt: string; raw: string[] };
}

export const optionLetter = (index: number): string => String.fromCharCode(65 + index);

function acceptedAnswers(truth: GroundTruth): string[] {
  const list = Array.isArray(truth.answer) ? truth.answer : truth.answer !== undefined ? [truth.answer] : [];
  return list.filter((a) => typeof a === 'string' && a.trim() !== '');
}

/** True when `needle`'s words occur consecutively in `haystack`'s words. */
function containsWords(haystack: string, needle: string): boolean {
  if (!needle) return false;
  return ` ${haystack} `.includes(` ${needle} `);
}

/** The option index a ground-truth answer names: its letter ("B", "(b)") or its text. */
export function truthOptionIndex(answer: string, choices: string[]): number {
  const letter = /^\s*\(?([A-Za-z])\)?\s*\.?\s*$/.exec(answer);
  if (letter) {
    const i = letter[1].toUpperCase().charCodeAt(0) - 65;
    if (i >= 0 && i < choices.length) return i;
  }
  const n = normalizeAnswer(answer);
  return choices.findIndex((c) => normalizeAnswer(c) === n);
}

/**
 * The option an answer picks: a leading letter ("B", "(B) red", "B. red", "Answer: B",
 * "Option B"), else the one option whose text the answer contains as whole words. Null when it
 * names none or several.
 */
export function pickedOption(answer: string, choices: string[]): number | null {
  const letters = choices.length;
  const lead = /^\s*(?:(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:\-]?\s*)?\(?([A-Za-z])(?:[).:,]|\s|$)/i.exec(answer);
  if (lead) {
    const i = lead[1].toUpperCase().charCodeAt(0) - 65;
    // A lone "a"/"A" at the start may be the article; count it only when it is not followed by a word.
    const isArticle = /^a$/i.test(lead[1]) && /^\s*a\s+[a-z]/i.test(answer) && !/^\s*a[).:]/i.test(answer);
    if (i >= 0 && i < letters && !isArticle) return i;
  }
  const said = normalizeAnswer(answer);
  if (said === '') return null;
  const hits = choices.map((c, i) => ({ i, text: normalizeAnswer(c) })).filter((c) => c.text && (said === c.text || containsWords(said, c.text)));
  if (hits.length === 1) return hits[0].i;
  // Options that contain one another ("red", "dark red"): the longest one the answer names wins.
  if (hits.length > 1) {
    const longest = hits.reduce((a, b) => (b.text.length > a.text.length ? b : a));
    if (hits.every((h) => h === longest || containsWords(longest.text, h.text))) return longest.i;
  }
  return null;
}

/** True when the item has something to score against. */
export function hasGroundTruth(truth: GroundTruth): boolean {
  return acceptedAnswers(truth).length > 0;
}

/** Scores one answer; undefined when the item has no ground truth. */
export function scoreAnswer(answer: string, truth: GroundTruth): AnswerScore | undefined {
  const accepted = acceptedAnswers(truth);
  if (!accepted.length) return undefined;
  if (truth.choices && truth.choices.length) {
    const right = new Set(accepted.map((a) => truthOptionIndex(a, truth.choices!)).filter((i) => i >= 0));
    const picked = pickedOption(answer, truth.choices);
    const correct = picked !== null && right.has(picked) ? 1 : 0;
    return { exact: correct, contains: correct, choice: { picked: picked === null ? null : optionLetter(picked), correct } };
  }
  const said = normalizeAnswer(answer);
  const normals = accepted.map(normalizeAnswer);
  return {
    exact: normals.some((n) => n === said) ? 1 : 0,
    contains: normals.some((n) => containsWords(said, n)) ? 1 : 0,
  };
}

/** Which score decides "right" for accuracies and the paired comparison. */
export type Metric = 'exact' | 'contains' | 'judge';
export const METRICS: readonly Metric[] = ['exact', 'contains', 'judge'];

/** A judge grade of at least this counts as right in the paired (binary) comparison. */
export const JUDGE_PASS = 0.5;

/**
 * Right or wrong under a metric; undefined when it cannot say (no judge grade). Multiple-choice
 * items always use the chosen option: their exact and containment scores are that already, and
 * a judge adds nothing to a letter.
 */
export function isRight(score: AnswerScore | undefined, metric: Metric): boolean | undefined {
  if (!score) return undefined;
  if (score.choice) return score.choice.correct === 1;
  if (metric === 'judge') return score.judge ? score.judge.score >= JUDGE_PASS : undefined;
  return score[metric] === 1;
}

export function parseMetric(value: string | undefined): Metric {
  const m = (value ?? 'exact') as Metric;
  if (!METRICS.includes(m)) throw new Error(`--metric must be one of ${METRICS.join(', ')}, got "${value}"`);
  return m;
}

/** Validates the ground-truth fields of a JSONL line; returns them, or a one-line error. */
export function readGroundTruth(obj: { answer?: unknown; choices?: unknown; category?: unknown }, origin: string): GroundTruth {
  const truth: GroundTruth = {};
  if (obj.answer !== undefined && obj.answer !== null) {
    const ok = typeof obj.answer === 'string' || (Array.isArray(obj.answer) && obj.answer.every((a) => typeof a === 'string'));
    if (!ok) throw new Error(`${origin}: "answer" must be a string or a list of strings.`);
    truth.answer = obj.answer as string | string[];
  }
  if (obj.choices !== undefined && obj.choices !== null) {
    if (!Array.isArray(obj.choices) || obj.choices.length < 2 || obj.choices.length > 26 || !obj.choices.every((c) => typeof c === 'string' && c.trim())) {
      throw new Error(`${origin}: "choices" must be a list of 2 to 26 non-empty strings (options A, B, C…).`);
    }
    truth.choices = obj.choices as string[];
    for (const a of acceptedAnswers(truth)) {
      if (truthOptionIndex(a, truth.choices) < 0) throw new Error(`${origin}: answer "${a}" is neither an option letter (A–${optionLetter(truth.choices.length - 1)}) nor the text of an option.`);
    }
  }
  if (obj.category !== undefined && obj.category !== null) {
    if (typeof obj.category !== 'string') throw new Error(`${origin}: "category" must be a string.`);
    truth.category = obj.category;
  }
  return truth;
}
