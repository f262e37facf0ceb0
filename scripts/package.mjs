// Builds one VSIX per platform, each holding only its own platform's native binaries.
//
//   node scripts/package.mjs [--target <t> ...] [--all] [--out <folder>] [--no-build]
//
// With no --target it builds the host's platform. vsce packages a staging folder (.cache/stage-<t>-*)
// whose node_modules holds the production dependencies (hard links to ours), onnxruntime-node with
// only <platform>/<arch> under bin/, and the target's @img/sharp-* packages, fetched with `npm pack`
// at the exact versions package-lock.json pins and checked against its integrity hashes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = JSON.parse(fs.readFileSync(path.join(ROOT, 'scripts', 'vsix-targets.json'), 'utf8'));
const CACHE = path.join(ROOT, '.cache');
const SHARP_CACHE = path.join(CACHE, 'sharp-packages');
/** vsce targets there is no VSIX for, and why (the README's "Platforms" section says the same). */
const NOT_OFFERED = {
  'darwin-x64': 'onnxruntime-node 1.30 ships no darwin/x64 binary',
  'alpine-x64': 'onnxruntime-node has no musl build',
  'alpine-arm64': 'onnxruntime-node has no musl build',
  web: 'native modules cannot run in VS Code for the web',
};

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { targets: [], out: ROOT, build: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--target') options.targets.push(argv[++i] ?? fail(`--target needs one of ${TARGETS.join(', ')}`));
    else if (arg === '--all') options.targets.push(...TARGETS);
    else if (arg === '--out') options.out = path.resolve(argv[++i] ?? fail('--out needs a folder'));
    else if (arg === '--no-build') options.build = false;
    else fail(`unknown argument '${arg}'. Use --target <${TARGETS.join('|')}>, --all, --out <folder>, --no-build.`);
  }
  if (options.targets.length === 0) options.targets.push(`${process.platform}-${process.arch}`);
  for (const target of options.targets) {
    if (!TARGETS.includes(target)) {
      const why = NOT_OFFERED[target] ? ` (${NOT_OFFERED[target]})` : '';
      fail(`no VSIX for target '${target}'${why}. Targets: ${TARGETS.join(', ')}.`);
    }
  }
  return options;
}

function run(command, args, cwd) {
  // npm is npm.cmd on Windows, which Node starts only through a shell; quote what the shell would split.
  const viaShell = process.platform === 'win32' && command === 'npm';
  const quoted = viaShell ? args.map((arg) => (/[\s&^|<>]/.test(arg) ? `"${arg}"` : arg)) : args;
  const result = spawnSync(command === 'node' ? process.execPath : command, quoted, { cwd, stdio: 'inherit', shell: viaShell });
  if (result.status !== 0) fail(`'${command} ${args.join(' ')}' failed (exit ${result.status ?? result.signal}) in ${cwd}`);
}

/** The @img packages a target needs, at the versions and hashes the lockfile pins. */
function sharpPackagesFor(target, lock) {
  const pinned = lock.packages['node_modules/sharp'].optionalDependencies;
  const names = [`@img/sharp-${target}`, `@img/sharp-libvips-${target}`].filter((name) => name in pinned);
  if (!names.includes(`@img/sharp-${target}`)) fail(`package-lock.json's sharp has no @img/sharp-${target}`);
  return names.map((name) => {
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry?.integrity || entry.version !== pinned[name]) {
      fail(`package-lock.json has no integrity for ${name}@${pinned[name]}: run npm install to refresh the lockfile`);
    }
    return { name, version: entry.version, integrity: entry.integrity };
  });
}

function integrityOf(file) {
  return 'sha512-' + createHash('sha512').update(fs.readFileSync(file)).digest('base64');
}

/** The package's tarball in .cache, fetched once with `npm pack` and checked against the lockfile. */
function cachedTarball({ name, version, integrity }) {
  const file = path.join(SHARP_CACHE, `${name.slice(1).replace('/', '-')}-${version}.tgz`);
  if (!fs.existsSync(file) || integrityOf(file) !== integrity) {
    fs.mkdirSync(SHARP_CACHE, { recursive: true });
    run('npm', ['pack', '--silent', `${name}@${version}`, '--pack-destination', SHARP_CACHE], ROOT);
  }
  if (integrityOf(file) !== integrity) fail(`${file} does not match package-lock.json's integrity for ${name}@${version}`);
  return file;
}

/** Hard-links a tree (a copy across volumes); `skip` gets paths relative to the root of the copy. */
function linkTree(from, to, skip = () => false, rel = '') {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const relPath = rel ? `${rel}/${entry.name}` : entry.name;
    if (skip(relPath)) continue;
    const source = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    const stat = fs.statSync(source);
    if (stat.isDirectory()) linkTree(source, dest, skip, relPath);
    else {
      try {
        fs.linkSync(source, dest);
      } catch {
        fs.copyFileSync(source, dest);
      }
    }
  }
}

/** Production dependencies: the lockfile's packages not marked dev (what vsce itself would ship). */
function productionPackages(lock) {
  return Object.entries(lock.packages)
    .filter(([key, entry]) => key.startsWith('node_modules/') && !entry.dev && !entry.link)
    .map(([key]) => key)
    .filter((key) => fs.existsSync(path.join(ROOT, key)));
}

/** Top-level folders .vscodeignore drops whole (`name/**`): not worth staging. */
function ignoredTopLevel() {
  const lines = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8').split(/\r?\n/);
  return new Set(lines.map((line) => /^([^/*!#\s]+)\/\*\*$/.exec(line.trim())?.[1]).filter(Boolean));
}

/** Staging folders still on disk, removed however the script ends. */
const stagingFolders = new Set();
process.on('exit', () => stagingFolders.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function stage(target, lock, outDir) {
  const [platform, arch] = target.split('-');
  fs.mkdirSync(CACHE, { recursive: true });
  // A folder of its own per run: a test and a developer may package the same target at once.
  const dir = fs.mkdtempSync(path.join(CACHE, `stage-${target}-`));
  stagingFolders.add(dir);
  const dropped = ignoredTopLevel();
  const outRel = path.relative(ROOT, outDir).split(path.sep)[0];
  linkTree(ROOT, dir, (rel) =>
    !rel.includes('/') && (rel === 'node_modules' || (rel.startsWith('.') && rel !== '.vscodeignore') || dropped.has(rel) || rel === outRel || rel.endsWith('.vsix')),
  );
  // The build ran already; vsce would run vscode:prepublish again in the staging folder, without esbuild.mjs.
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  delete manifest.scripts['vscode:prepublish'];
  fs.rmSync(path.join(dir, 'package.json'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2));

  // Each package is linked without its nested node_modules: npm ls lists the production ones on their own.
  const ortOwn = `bin/napi-v6/${platform}/${arch}`;
  const otherPlatformOrt = (rel) =>
    rel.startsWith('bin/napi-v6/') && !(ortOwn.startsWith(`${rel}/`) || rel === ortOwn || rel.startsWith(`${ortOwn}/`));
  for (const pkg of productionPackages(lock)) {
    if (pkg.startsWith('node_modules/@img/sharp-')) continue; // the host's; the target's come from the cache
    const isOrt = pkg === 'node_modules/onnxruntime-node';
    linkTree(path.join(ROOT, pkg), path.join(dir, pkg), (rel) => rel === 'node_modules' || (isOrt && otherPlatformOrt(rel)));
  }
  if (!fs.existsSync(path.join(dir, 'node_modules/onnxruntime-node', ortOwn, 'onnxruntime_binding.node'))) {
    fail(`onnxruntime-node ships no ${platform}/${arch} binary (looked in node_modules/onnxruntime-node/${ortOwn})`);
  }
  for (const pkg of sharpPackagesFor(target, lock)) {
    const dest = path.join(dir, 'node_modules', pkg.name);
    fs.mkdirSync(dest, { recursive: true });
    // A relative archive path: GNU tar (Git Bash on Windows) reads 'C:' as a remote host.
    run('tar', ['-xzf', path.relative(dest, cachedTarball(pkg)), '--strip-components=1'], dest);
  }
  return dir;
}

const options = parseArgs(process.argv.slice(2));
if (options.build) run('node', ['esbuild.mjs', '--production', '--no-tests'], ROOT);
else if (!fs.existsSync(path.join(ROOT, 'dist', 'extension.js'))) fail('--no-build, but dist/extension.js is missing: run node esbuild.mjs first.');
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
fs.mkdirSync(options.out, { recursive: true });
const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
for (const target of options.targets) {
  const started = Date.now();
  const dir = stage(target, lock, options.out);
  const out = path.join(options.out, `attention-prompting-${target}.vsix`);
  run('node', [vsce, 'package', '--target', target, '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out], dir);
  fs.rmSync(dir, { recursive: true, force: true });
  stagingFolders.delete(dir);
  console.log(`package: ${path.relative(ROOT, out)} (${(fs.statSync(out).size / 1e6).toFixed(1)} MB, ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
