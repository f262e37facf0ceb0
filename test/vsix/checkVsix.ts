/**
 * Checks a platform VSIX's native binaries the way the target's loaders will meet them: the two
 * addons sit where their JavaScript loaders require them, every native file is the target's format
 * and CPU, and every library they need that the VSIX must carry is found where the binary says to look.
 */
import * as path from 'node:path';
import { MACHINE, readNativeHeader, type NativeFormat, type NativeHeader } from './nativeHeader';

const EXTENSION = 'extension/node_modules';
const NATIVE_NAME = /\.(node|dll|dylib)$|\.so(\.\d+)*$/i;
/** Libraries of ours (not the operating system's) that a binary may need: they must be in the VSIX. */
const BUNDLED_LIBRARY = /vips|onnxruntime|directml|dxcompiler|dxil/i;
const FORMAT_OF: Record<string, NativeFormat> = { win32: 'pe', darwin: 'macho', linux: 'elf' };

/** Everything wrong with the VSIX's native binaries for `target` (e.g. win32-x64); empty when none. */
export function nativeBinaryProblems(entries: Map<string, Buffer>, target: string): string[] {
  const [platform, arch] = target.split('-') as [string, 'x64' | 'arm64'];
  const format = FORMAT_OF[platform];
  const machine = MACHINE[format][arch];
  const problems: string[] = [];

  // onnxruntime-node's dist/binding.js: require(`../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`).
  const required = [`${EXTENSION}/onnxruntime-node/bin/napi-v6/${platform}/${arch}/onnxruntime_binding.node`];
  // sharp requires `@img/sharp-<platform>-<arch>/sharp.node`, which that package's exports map to a
  // file that requires its lib/*.node.
  const sharpPackage = `${EXTENSION}/@img/sharp-${target}`;
  const manifest = entries.get(`${sharpPackage}/package.json`);
  if (!manifest) problems.push(`missing ${sharpPackage}/package.json: sharp cannot load on ${target}`);
  else {
    const entryFile = JSON.parse(manifest.toString('utf8')).exports?.['./sharp.node'] as string | undefined;
    const loader = entryFile && entries.get(path.posix.join(sharpPackage, entryFile));
    const addon = loader && /require\(['"](\.\/[^'"]+\.node)['"]\)/.exec(loader.toString('utf8'))?.[1];
    if (!addon) problems.push(`${sharpPackage}: no ./sharp.node export requiring a .node file`);
    else required.push(path.posix.join(sharpPackage, addon));
  }
  for (const file of required) if (!entries.has(file)) problems.push(`missing ${file}`);

  const natives = [...entries.keys()].filter((name) => name.startsWith(`${EXTENSION}/`) && NATIVE_NAME.test(name));
  for (const file of natives) {
    const header = readNativeHeader(entries.get(file)!);
    if (!header) problems.push(`${file}: not a native binary of any known format`);
    else if (header.format !== format) problems.push(`${file}: ${header.format} binary in a ${target} VSIX (expected ${format})`);
    else if (header.machine !== machine) {
      problems.push(`${file}: machine 0x${header.machine.toString(16)}, expected 0x${machine.toString(16)} (${arch})`);
    } else problems.push(...unresolvedLibraries(file, header, entries));
  }
  return problems;
}

/** The bundled libraries `file` needs that its loader would not find in the VSIX. */
function unresolvedLibraries(file: string, header: NativeHeader, entries: Map<string, Buffer>): string[] {
  const folder = path.posix.dirname(file);
  const problems: string[] = [];
  for (const needed of header.needed) {
    const name = path.posix.basename(needed);
    if (!BUNDLED_LIBRARY.test(name)) continue;
    const candidates = loaderCandidates(header, needed, folder);
    // Windows matches DLL names without regard to case.
    const found = header.format === 'pe'
      ? [...entries.keys()].some((entry) => candidates.some((c) => c.toLowerCase() === entry.toLowerCase()))
      : candidates.some((candidate) => entries.has(candidate));
    if (!found) problems.push(`${file} needs ${needed}, which is not at ${candidates.join(' or ') || 'any path it searches'}`);
  }
  return problems;
}

/** Where the target's loader looks for `needed`, as VSIX entry names. */
function loaderCandidates(header: NativeHeader, needed: string, folder: string): string[] {
  const inFolder = (dir: string, name: string) => path.posix.normalize(path.posix.join(dir, name));
  if (header.format === 'pe') return [inFolder(folder, needed)];
  if (header.format === 'elf') {
    return header.searchPaths
      .filter((dir) => /^\$(ORIGIN|\{ORIGIN\})/.test(dir))
      .map((dir) => inFolder(dir.replace(/^\$(ORIGIN|\{ORIGIN\})/, folder), needed));
  }
  if (needed.startsWith('@loader_path/')) return [inFolder(folder, needed.slice('@loader_path/'.length))];
  if (!needed.startsWith('@rpath/')) return []; // an absolute install name: outside the VSIX
  return header.searchPaths
    .filter((dir) => dir.startsWith('@loader_path'))
    .map((dir) => inFolder(dir.replace('@loader_path', folder), needed.slice('@rpath/'.length)));
}
