/** Text from outside (file names, questions) placed into chat markdown as text, never as markup. */

/**
 * `text` as markdown that renders as exactly its characters: every ASCII punctuation mark is
 * backslash-escaped (CommonMark allows that for all of them, so none can open a link, image,
 * emphasis, code, HTML, heading or list), and line breaks become spaces (a blank line would
 * end the paragraph and let the next line start a block).
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[!-/:-@[-`{-~]/g, '\\$&');
}

/** A markdown image of `target` (a URI we made) whose alt text is `alt`, shown as written. */
export function markdownImage(alt: string, target: string): string {
  return `![${escapeMarkdown(alt)}](${target})`;
}
