import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeMarkdown, markdownImage } from './markdownText';

// A CommonMark renderer (VS Code's chat renders CommonMark too); a dev dependency of @vscode/vsce.
const MarkdownIt = require('markdown-it') as new (options?: { html?: boolean; linkify?: boolean }) => { render(src: string): string; renderInline(src: string): string; validateLink(url: string): boolean };
// linkify: bare URLs, www. names and e-mail addresses become links, as in GitHub-style markdown.
const md = new MarkdownIt({ html: false, linkify: true });
// markdown-it refuses file: links by default; VS Code's chat shows our file: preview.
md.validateLink = () => true;

const hostile = ['x](https://evil.example/a.png)![y.png', 'a*b*_c_`d`<img src=x>#h [l](u) \\ &lt; ~~s~~ $(gear) |t|', 'line\n\n# heading\r\n- item', '![i](https://evil.example/i.png)', 'see https://evil.example/x, www.evil.example or me@evil.example: now?', '<https://evil.example> [ref]: https://evil.example'];

describe('file names in chat markdown', () => {
  it('the heatmap image keeps its own target and shows a crafted file name as its alt text', () => {
    const target = 'file:///home/me/.storage/chat-previews/abc.png';
    for (const name of hostile) {
      const html = md.renderInline(markdownImage(`Heatmap of ${name}`, target));
      assert.equal(html.match(/<img /g)?.length, 1, `one image: ${html}`);
      assert.doesNotMatch(html, /<a |evil\.example\/a\.png"|<h1|<li/, html);
      assert.match(html, new RegExp(`^<img src="${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`), html);
    }
  });

  it('escaped text renders as exactly the characters it had: no links, images, emphasis, code or HTML', () => {
    for (const text of hostile) {
      const html = md.render(escapeMarkdown(text));
      assert.doesNotMatch(html, /<(a|img|em|strong|code|h1|li|s)\b/, html);
      const shown = html.replace(/<\/?p>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&').trim();
      assert.equal(shown, text.replace(/\s+/g, ' ').trim(), 'the same characters, whitespace folded');
    }
  });
});
