// Bundles the CLI, the extension host code and the tests. Native modules (sharp, onnxruntime-node)
// and Transformers.js (which requires both at load time) stay external and ship in node_modules.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const production = process.argv.includes('--production');
const external = ['vscode', 'sharp', 'onnxruntime-node', '@huggingface/transformers'];
// The batch report's script (src/webview/report.ts) is bundled for the browser first and inlined
// into the report by src/core/batch/report.ts, whose CSP admits it by hash: the report stays one
// self-contained file, the same bytes in a browser and in VS Code's webview.
const reportScript = await esbuild.build({
  entryPoints: ['src/webview/report.ts'],
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2020',
  minify: true,
  write: false,
  logLevel: 'warning',
});
const common = {
  define: { REPORT_SCRIPT: JSON.stringify(reportScript.outputFiles[0].text.trim()) },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  external,
  logLevel: 'warning',
};

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'fixtures' || name === 'e2e' || name === 'browser') continue;
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const builds = [
  esbuild.build({ ...common, entryPoints: ['src/cli/bin.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  esbuild.build({ ...common, entryPoints: ['src/engine-process/main.ts'], outfile: 'dist/engine.js' }),
  esbuild.build({ ...common, entryPoints: ['bench/measure.ts'], outfile: 'dist/bench-measure.js' }),
  esbuild.build({ ...common, entryPoints: ['bench/report-scale.ts'], outfile: 'dist/bench-report.js', external: [...external, 'playwright-core'] }),
  // Its metafile lets test/importBoundaries.test.ts prove the host bundle holds no engine-only package.
  esbuild.build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', metafile: true }).then((r) =>
    writeFileSync('dist/extension.meta.json', JSON.stringify(r.metafile)),
  ),
  // Webview code runs in the browser sandbox: one self-contained script per view.
  esbuild.build({
    entryPoints: { heatmap: 'src/webview/heatmap.ts', answers: 'src/webview/answers.ts' },
    outdir: 'dist/webview',
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: production ? false : 'inline',
    minify: production,
    logLevel: 'warning',
  }),
];
mkdirSync('dist/webview', { recursive: true });
copyFileSync('media/webview.css', 'dist/webview/webview.css');
if (!process.argv.includes('--no-tests')) {
  // `node --test` runs every file in these folders: a test removed from the sources must not linger.
  for (const dir of ['dist-test/src', 'dist-test/test']) rmSync(dir, { recursive: true, force: true });
  // esbuild stays external: the import-boundary test runs it, and its API cannot be bundled.
  builds.push(esbuild.build({ ...common, entryPoints: [...findTests('src'), ...findTests('test')], outdir: 'dist-test', outbase: '.', external: [...external, 'esbuild'] }));
  // End-to-end: the driver (runs outside VS Code, with playwright) and the mocha suite that runs
  // inside the extension host as a small development extension.
  // Tests that need Chromium run with the integration suite, not with the unit tests.
  builds.push(esbuild.build({ ...common, entryPoints: ['test/browser/report.test.ts', 'test/browser/reportStrings.test.ts', 'test/browser/heatmapWebview.test.ts'], outdir: 'dist-test/browser', external: [...external, 'playwright-core'] }));
  builds.push(esbuild.build({ ...common, entryPoints: ['test/e2e/driver.ts'], outfile: 'dist-test/e2e-driver.js', external: [...external, 'playwright-core', '@vscode/test-electron'] }));
  builds.push(
    esbuild.build({
      ...common,
      entryPoints: { index: 'test/e2e/suite/index.ts', 'extension.e2e': 'test/e2e/suite/extension.e2e.ts', 'reload.e2e': 'test/e2e/suite/reload.e2e.ts', 'settings.e2e': 'test/e2e/suite/settings.e2e.ts', 'languageModels.e2e': 'test/e2e/suite/languageModels.e2e.ts', 'agent.e2e': 'test/e2e/suite/agent.e2e.ts', 'chatView.e2e': 'test/e2e/suite/chatView.e2e.ts' },
      outdir: 'dist-test/e2e-suite',
      external: [...external, 'mocha'],
    }),
  );
  mkdirSync('dist-test/e2e-suite', { recursive: true });
  copyFileSync('test/e2e/suite/package.json', 'dist-test/e2e-suite/package.json');
}
await Promise.all(builds);
