/**
 * Text from outside (a model's generated tokens, a server's error message) made safe to write to
 * a terminal: escape sequences could set the window title, clear the screen, move the cursor or
 * rewrite what was printed, and a bare carriage return overwrites the line. Applied always, not
 * only on a TTY: output redirected to a file is replayed by the next `cat`. --json output keeps
 * the text exactly, escaped (terminalJson).
 */

const ESC = 0x1b;
const BEL = 0x07;
/** C1 controls that open a sequence: CSI, and the string commands DCS, SOS, OSC, PM, APC. */
const C1_CSI = 0x9b;
const C1_STRINGS = new Set([0x90, 0x98, 0x9d, 0x9e, 0x9f]);
/** C1 string terminator. */
const C1_ST = 0x9c;
/** After ESC: the characters that open a control string (DCS P, SOS X, OSC ], PM ^, APC _). */
const ESC_STRINGS = new Set(['P', 'X', ']', '^', '_'].map((c) => c.charCodeAt(0)));

type State = 'text' | 'esc' | 'escIntermediate' | 'csi' | 'string' | 'stringEsc';

const isKeptControl = (c: number) => c === 0x0a || c === 0x09;
const isControl = (c: number) => c < 0x20 || (c >= 0x7f && c <= 0x9f);

/**
 * Removes control characters (C0 but newline and tab, DEL, C1) and whole escape sequences (CSI,
 * OSC and the other control strings, two- and three-character ESC sequences) from text written in
 * chunks: a sequence split between two chunks is still removed. An unterminated control string
 * ends at the next newline, so it hides at most the rest of its line.
 */
export class TerminalTextFilter {
  private state: State = 'text';

  write(chunk: string): string {
    let out = '';
    let i = 0;
    while (i < chunk.length) {
      const c = chunk.charCodeAt(i);
      const reprocess = this.step(c);
      if (reprocess === 'keep') out += chunk[i];
      if (reprocess !== 'again') i++;
    }
    return out;
  }

  /** One character: kept, dropped, or to be read again in the state it just set. */
  private step(c: number): 'keep' | 'drop' | 'again' {
    switch (this.state) {
      case 'text':
        if (c === ESC) this.state = 'esc';
        else if (c === C1_CSI) this.state = 'csi';
        else if (C1_STRINGS.has(c)) this.state = 'string';
        else if (isKeptControl(c) || !isControl(c)) return 'keep';
        return 'drop';
      case 'esc':
        if (c === 0x5b /* [ */) this.state = 'csi';
        else if (ESC_STRINGS.has(c)) this.state = 'string';
        else if (c >= 0x20 && c <= 0x2f) this.state = 'escIntermediate';
        else if (c >= 0x30 && c <= 0x7e) this.state = 'text';
        else return this.restart();
        return 'drop';
      case 'escIntermediate':
        if (c >= 0x20 && c <= 0x2f) return 'drop';
        if (c >= 0x30 && c <= 0x7e) {
          this.state = 'text';
          return 'drop';
        }
        return this.restart();
      case 'csi':
        // Parameter and intermediate bytes, then one final byte; anything else cancels it.
        if (c >= 0x20 && c <= 0x3f) return 'drop';
        if (c >= 0x40 && c <= 0x7e) {
          this.state = 'text';
          return 'drop';
        }
        return this.restart();
      case 'string':
        if (c === BEL || c === C1_ST) this.state = 'text';
        else if (c === ESC) this.state = 'stringEsc';
        else if (c === 0x0a) return this.restart();
        return 'drop';
      case 'stringEsc':
        if (c === 0x5c /* \ */) {
          this.state = 'text';
          return 'drop';
        }
        // Any other ESC sequence ends the string and starts anew.
        this.state = 'esc';
        return 'again';
    }
  }

  private restart(): 'again' {
    this.state = 'text';
    return 'again';
  }
}

/** `text` with control characters and escape sequences removed (one chunk). */
export function terminalText(text: string): string {
  return new TerminalTextFilter().write(text);
}

/**
 * `value` as one JSON line that holds no raw control character: JSON.stringify escapes C0 but
 * writes DEL and C1 (U+009B is a CSI to many terminals) as they are. Parsing gives back every
 * character.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
