/**
 * The layer rules of src/, checked on the import graph esbuild reports (its metafile), so the
 * imports are read by the bundler that builds the shipped code, not by a parser of our own.
 *
 * Type-only imports are erased before esbuild records an import, so they never count: a type from
 * core costs the webview or the host nothing at run time. Everything else does, `require` and
 * `import()` included.
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What the host and the webviews must never load: native modules, the model runtime, the VLM SDK. */
export const ENGINE_ONLY_PACKAGES = ['openai', 'onnxruntime-node', 'onnxruntime-common', 'onnxruntime-web', 'sharp', '@huggingface/transformers'];

/**
 * The one core file the webviews import: the bounds the heatmap's sliders show (plain constants,
 * no imports). Every other core module is reached, if at all, through shared/.
 */
export const WEBVIEW_CORE_IMPORTS = ['src/core/defaults.ts'];
/** The packages webviews may load: VS Code's web components toolkit, built for the browser. */
export const WEBVIEW_PACKAGES = ['@vscode-elements/elements'];

export interface LayerRule {
  name: string;
  /** Files the rule applies to, by their path from the root (`src/core/engine.ts`). */
  applies: (file: string) => boolean;
  /** An import the rule forbids: a source file's path, or a package or builtin as written (`openai/resources`, `node:fs`). */
  forbids: (target: string) => boolean;
  /** Checked through every file the importer pulls in (what ends up in its bundle), not only its own imports. */
  transitive: boolean;
  /** What to do instead, for the failure message. */
  remedy: string;
}

const under = (...dirs: string[]) => (file: string) => dirs.some((d) => file.startsWith(d + '/'));
const isSource = (target: string) => target.startsWith('src/') || target.startsWith('test/') || target.startsWith('bench/');
/** `openai/resources/x` → `openai`, `@scope/name/x` → `@scope/name`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export const LAYER_RULES: LayerRule[] = [
  {
    name: 'core imports no vscode',
    applies: under('src/core'),
    forbids: (t) => t === 'vscode',
    transitive: true,
    remedy: 'core runs in the CLI and the engine process too: pass what it needs from the extension as a parameter',
  },
  {
    name: 'core imports no layer above it',
    applies: under('src/core'),
    forbids: under('src/extension', 'src/webview', 'src/cli', 'src/engine-process'),
    transitive: false,
    remedy: 'move the shared piece down into core (or shared/) and import it from both',
  },
  {
    name: 'host and webviews load no engine-only package',
    applies: under('src/extension', 'src/webview'),
    forbids: (t) => !isSource(t) && ENGINE_ONLY_PACKAGES.includes(packageName(t)),
    transitive: true,
    remedy: 'the engine process loads these; ask it over the protocol, or move the SDK-free helper into its own core module',
  },
  {
    name: 'webviews import only webview, shared and core/defaults sources',
    applies: under('src/webview'),
    forbids: (t) => isSource(t) && !under('src/webview', 'src/shared')(t) && !WEBVIEW_CORE_IMPORTS.includes(t),
    transitive: false,
    remedy: 'a webview gets everything else from the host through the typed protocol in src/shared',
  },
  {
    name: 'webviews load no package but the web components toolkit, and no Node builtin',
    applies: under('src/webview'),
    forbids: (t) => !isSource(t) && !WEBVIEW_PACKAGES.includes(packageName(t)),
    transitive: true,
    remedy: 'webview code runs in the browser sandbox; keep the shared modules it reaches free of Node and package imports',
  },
];

export interface Violation {
  rule: string;
  /** From the importing file to the forbidden import, each step an import. */
  chain: string[];
  remedy: string;
}

/** Every file under `dirs` (relative to `root`) that ships: .ts sources, not tests. */
export function sourceFiles(root: string, dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of dirs) if (fs.existsSync(path.join(root, d))) walk(d);
  return out;
}

/** Each file's imports (source paths from `root`, packages and builtins as written), from esbuild's metafile. */
export async function importGraph(root: string, entryPoints: string[]): Promise<Map<string, string[]>> {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints,
    bundle: true,
    // Packages stay unresolved: the rules are about which file asks for them.
    packages: 'external',
    platform: 'node',
    format: 'esm',
    write: false,
    // Nothing is written (write: false); esbuild only needs a folder to name the outputs after.
    outdir: path.join(os.tmpdir(), 'ap-import-graph'),
    metafile: true,
    logLevel: 'silent',
  });
  const graph = new Map<string, string[]>();
  for (const [file, input] of Object.entries(result.metafile.inputs)) graph.set(file, input.imports.map((i) => i.path));
  return graph;
}

/** The rules `graph` breaks: one violation per importing file, rule and forbidden import, with the shortest chain to it. */
export function boundaryViolations(graph: Map<string, string[]>, rules: LayerRule[] = LAYER_RULES): Violation[] {
  const out: Violation[] = [];
  for (const rule of rules) {
    for (const file of [...graph.keys()].filter(rule.applies).sort()) {
      // Breadth first, so each forbidden import is reported by its shortest chain.
      const parent = new Map<string, string | undefined>([[file, undefined]]);
      const queue = [file];
      const reported = new Set<string>();
      while (queue.length > 0) {
        const at = queue.shift()!;
        for (const target of graph.get(at) ?? []) {
          if (rule.forbids(target) && !reported.has(target)) {
            reported.add(target);
            const chain = [target];
            for (let step: string | undefined = at; step !== undefined; step = parent.get(step)) chain.unshift(step);
            out.push({ rule: rule.name, chain, remedy: rule.remedy });
          }
          if (rule.transitive && graph.has(target) && !parent.has(target)) {
            parent.set(target, at);
            queue.push(target);
          }
        }
      }
    }
  }
  return out;
}

export function describeViolations(violations: Violation[]): string {
  return violations.map((v) => `${v.rule}: ${v.chain.join(' → ')} (${v.remedy})`).join('\n');
}

/**
 * The engine-only packages a bundle holds, from its metafile, one line each: modules bundled in (an
 * input under node_modules/<package>/) and packages left to `require` at run time (an external import).
 */
export function engineOnlyModules(metafile: esbuild.Metafile): string[] {
  const bundled = new Map<string, string[]>();
  const required = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, file: string) => map.set(key, [...(map.get(key) ?? []), file]);
  for (const [file, input] of Object.entries(metafile.inputs)) {
    const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (inPackage && ENGINE_ONLY_PACKAGES.includes(inPackage[1])) add(bundled, inPackage[1], file);
    for (const i of input.imports) if (i.external && ENGINE_ONLY_PACKAGES.includes(packageName(i.path))) add(required, packageName(i.path), file);
  }
  return [
    ...[...bundled].map(([name, files]) => `${name}: ${files.length} modules bundled (${files[0]}, …)`),
    ...[...required].map(([name, files]) => `${name}: required by ${files.join(', ')}`),
  ].sort();
}
