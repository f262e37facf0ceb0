/** Text from outside (file names, questions) placed into chat markdown as text, never as markup. */

/**
 * The ASCII punctuation that can open markup: links, images, emphasis, code, HTML, entities,
 * headings, lists, tables, strikethrough, theme icons, and (through "/" and ".") the bare URLs,
 * www. names and e-mail addresses GitHub-style markdown turns into links. Other marks (: , ; ? ' "
 * = % @) stay as written, so messages read the same in plain text.
 */
const MARKUP = /[\\`*_{}[\]()#+\-.!|<>~&$/^]/g;

/**
 * `text` as markdown that renders as exactly its characters: markup characters backslash-escaped
 * (CommonMark allows that for any ASCII punctuation), line breaks as spaces (a blank line would
 * end the paragraph and let the next line start a block).
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(MARKUP, '\\$&');
}

/** A markdown image of `target` (a URI we made) whose alt text is `alt`, shown as written. */
export function markdownImage(alt: string, target: string): string {
  return `![${escapeMarkdown(alt)}](${target})`;
}
