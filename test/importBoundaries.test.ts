/**
 * The layers hold by test (issue 23, §4): core never reaches vscode; the extension host and the
 * webviews never load openai, onnxruntime, sharp or Transformers.js; webviews import only webview,
 * shared and core/defaults sources, and no package but the web components toolkit. Read from
 * esbuild's metafile (see importBoundaries.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { boundaryViolations, describeViolations, engineOnlyModules, importGraph, sourceFiles } from './importBoundaries';
import { ROOT, tempDir } from './helpers';

function write(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
}

describe('import boundaries', () => {
  it('the sources keep every layer rule', async () => {
    const files = sourceFiles(ROOT, ['src']);
    const graph = await importGraph(ROOT, files);
    // The graph is the real one: every source file is in it, and core's own SDK import is seen.
    for (const f of files) assert.ok(graph.has(f), `${f} missing from the import graph`);
    assert.ok(graph.get('src/core/vlm.ts')?.includes('openai'), 'core/vlm.ts imports openai');
    assert.ok(graph.get('src/extension/extension.ts')?.includes('vscode'), 'the extension imports vscode');
    const violations = boundaryViolations(graph);
    assert.equal(violations.length, 0, describeViolations(violations));
  });

  it('an import across each line is reported with the chain that reaches it; type-only imports are not', async () => {
    const root = tempDir('ap-layers-');
    write(root, {
      'src/core/usesVscode.ts': "import * as vscode from 'vscode';\nexport const version = vscode.version;\n",
      'src/core/viaHelper.ts': "import { version } from './usesVscode';\nexport const label = `v${version}`;\n",
      'src/core/upward.ts': "import { host } from '../extension/host';\nexport const up = host;\n",
      'src/core/client.ts': "import OpenAI from 'openai';\nexport const Client = OpenAI;\n",
      'src/core/defaults.ts': 'export const GRAY = { min: 0, max: 1 };\n',
      'src/shared/protocol.ts': "import { GRAY } from '../core/defaults';\nexport const bounds = GRAY;\n",
      'src/extension/host.ts': "import { Client } from '../core/client';\nexport const host = Client;\n",
      'src/extension/typeOnly.ts': "import type OpenAI from 'openai';\nexport let client: OpenAI | undefined;\n",
      'src/extension/lazySharp.ts': "export const load = () => import('sharp');\n",
      'src/webview/view.ts': "import { label } from '../core/viaHelper';\nexport const shown = label;\n",
      'src/webview/fine.ts': "import '@vscode-elements/elements/dist/vscode-button/index.js';\nimport { bounds } from '../shared/protocol';\nimport { GRAY } from '../core/defaults';\nexport const both = [bounds, GRAY];\n",
      'src/webview/node.ts': "import * as path from 'node:path';\nexport const sep = path.sep;\n",
    });
    const graph = await importGraph(root, sourceFiles(root, ['src']));
    const found = boundaryViolations(graph).map((v) => `${v.rule}: ${v.chain.join(' → ')}`).sort();
    assert.deepEqual(found, [
      'core imports no layer above it: src/core/upward.ts → src/extension/host.ts',
      'core imports no vscode: src/core/usesVscode.ts → vscode',
      'core imports no vscode: src/core/viaHelper.ts → src/core/usesVscode.ts → vscode',
      'host and webviews load no engine-only package: src/extension/host.ts → src/core/client.ts → openai',
      'host and webviews load no engine-only package: src/extension/lazySharp.ts → sharp',
      'webviews import only webview, shared and core/defaults sources: src/webview/view.ts → src/core/viaHelper.ts',
      'webviews load no package but the web components toolkit, and no Node builtin: src/webview/node.ts → node:path',
      'webviews load no package but the web components toolkit, and no Node builtin: src/webview/view.ts → src/core/viaHelper.ts → src/core/usesVscode.ts → vscode',
    ]);
    assert.match(describeViolations(boundaryViolations(graph)), /src\/extension\/host\.ts → src\/core\/client\.ts → openai \(the engine process loads these; ask it over the protocol/);
  });

  it('a bundle metafile that holds an engine-only package, bundled or left to require, is reported', () => {
    const input = (imports: { path: string; external?: boolean }[]) => ({ bytes: 1, imports: imports.map((i) => ({ kind: 'import-statement', ...i })) });
    const metafile = {
      inputs: {
        'node_modules/openai/index.mjs': input([]),
        'node_modules/openai/core.mjs': input([]),
        'node_modules/tinyglobby/dist/index.cjs': input([]),
        'src/extension/a.ts': input([{ path: 'sharp', external: true }, { path: 'vscode', external: true }, { path: 'node_modules/openai/index.mjs' }]),
      },
      outputs: {},
    } as unknown as Parameters<typeof engineOnlyModules>[0];
    assert.deepEqual(engineOnlyModules(metafile), ['openai: 2 modules bundled (node_modules/openai/index.mjs, …)', 'sharp: required by src/extension/a.ts']);
  });

  it('the host bundle (dist/extension.js) holds no engine-only package, bundled or required', () => {
    const metafile = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'extension.meta.json'), 'utf8'));
    assert.ok(Object.keys(metafile.inputs).includes('src/extension/extension.ts'), 'the metafile is the host bundle’s');
    assert.deepEqual(engineOnlyModules(metafile), []);
  });
});
