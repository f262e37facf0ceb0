/**
 * Reads what a loader reads from a native binary's header: its format, its CPU, the libraries it
 * needs and where it says to look for them. PE (Windows), Mach-O 64 (macOS) and ELF 64 (Linux),
 * little-endian, which is every binary the VSIXes ship.
 */

export type NativeFormat = 'pe' | 'macho' | 'elf';

export interface NativeHeader {
  format: NativeFormat;
  /** PE Machine, Mach-O cputype or ELF e_machine. */
  machine: number;
  /** Libraries the binary links against, as written (Mach-O: install names such as @rpath/libx.dylib). */
  needed: string[];
  /** ELF DT_RPATH/DT_RUNPATH entries, Mach-O LC_RPATH entries, as written ($ORIGIN, @loader_path). */
  searchPaths: string[];
}

export const MACHINE = {
  pe: { x64: 0x8664, arm64: 0xaa64 },
  macho: { x64: 0x01000007, arm64: 0x0100000c },
  elf: { x64: 62, arm64: 183 },
} as const;

/** The header of a native binary, or undefined when the bytes are none of the three formats. */
export function readNativeHeader(bytes: Buffer): NativeHeader | undefined {
  if (bytes.length >= 64 && bytes.readUInt16LE(0) === 0x5a4d) return readPe(bytes);
  if (bytes.length >= 32 && bytes.readUInt32LE(0) === 0xfeedfacf) return readMachO(bytes);
  if (bytes.length >= 64 && bytes.readUInt32BE(0) === 0x7f454c46) return readElf(bytes);
  return undefined;
}

function cString(bytes: Buffer, offset: number): string {
  const end = bytes.indexOf(0, offset);
  return bytes.toString('latin1', offset, end < 0 ? bytes.length : end);
}

function readPe(bytes: Buffer): NativeHeader | undefined {
  const pe = bytes.readUInt32LE(0x3c);
  if (pe + 24 > bytes.length || bytes.readUInt32LE(pe) !== 0x00004550) return undefined;
  const machine = bytes.readUInt16LE(pe + 4);
  const sectionCount = bytes.readUInt16LE(pe + 6);
  const optional = pe + 24;
  const optionalSize = bytes.readUInt16LE(pe + 20);
  const dataDirectories = optional + (bytes.readUInt16LE(optional) === 0x20b ? 112 : 96);
  const sections = Array.from({ length: sectionCount }, (_, i) => {
    const at = optional + optionalSize + i * 40;
    return {
      address: bytes.readUInt32LE(at + 12),
      size: Math.max(bytes.readUInt32LE(at + 8), bytes.readUInt32LE(at + 16)),
      offset: bytes.readUInt32LE(at + 20),
    };
  });
  const fileOffset = (rva: number) => {
    const section = sections.find((s) => rva >= s.address && rva < s.address + s.size);
    return section ? section.offset + rva - section.address : -1;
  };
  const needed: string[] = [];
  // Data directory 1: the import table (20-byte descriptors, name RVA at +12, ended by a zero one).
  // Data directory 13: delay-load imports (32-byte descriptors, name RVA at +4).
  for (const [index, size, nameAt] of [[1, 20, 12], [13, 32, 4]]) {
    const tableRva = bytes.readUInt32LE(dataDirectories + index * 8);
    if (tableRva === 0) continue;
    for (let at = fileOffset(tableRva); at >= 0 && at + size <= bytes.length; at += size) {
      const nameRva = bytes.readUInt32LE(at + nameAt);
      if (nameRva === 0) break;
      needed.push(cString(bytes, fileOffset(nameRva)));
    }
  }
  // Windows looks for a DLL's imports in the folder it was loaded from (Node loads addons with
  // LOAD_WITH_ALTERED_SEARCH_PATH), so there are no search paths to read.
  return { format: 'pe', machine, needed, searchPaths: [] };
}

function readMachO(bytes: Buffer): NativeHeader {
  const LC_LOAD_DYLIB = 0xc;
  const LC_LOAD_WEAK_DYLIB = 0x80000018;
  const LC_REEXPORT_DYLIB = 0x8000001f;
  const LC_RPATH = 0x8000001c;
  const machine = bytes.readUInt32LE(4);
  const commandCount = bytes.readUInt32LE(16);
  const needed: string[] = [];
  const searchPaths: string[] = [];
  let at = 32;
  for (let i = 0; i < commandCount && at + 8 <= bytes.length; i++) {
    const command = bytes.readUInt32LE(at);
    const size = bytes.readUInt32LE(at + 4);
    if (command === LC_LOAD_DYLIB || command === LC_LOAD_WEAK_DYLIB || command === LC_REEXPORT_DYLIB) {
      needed.push(cString(bytes, at + bytes.readUInt32LE(at + 8)));
    } else if (command === LC_RPATH) {
      searchPaths.push(cString(bytes, at + bytes.readUInt32LE(at + 8)));
    }
    if (size < 8) break;
    at += size;
  }
  return { format: 'macho', machine, needed, searchPaths };
}

function readElf(bytes: Buffer): NativeHeader {
  const machine = bytes.readUInt16LE(18);
  const needed: string[] = [];
  const searchPaths: string[] = [];
  if (bytes[4] !== 2) return { format: 'elf', machine, needed, searchPaths }; // 32-bit: header only
  const PT_LOAD = 1;
  const PT_DYNAMIC = 2;
  const programHeaders = Number(bytes.readBigUInt64LE(32));
  const entrySize = bytes.readUInt16LE(54);
  const segments = Array.from({ length: bytes.readUInt16LE(56) }, (_, i) => {
    const at = programHeaders + i * entrySize;
    return {
      type: bytes.readUInt32LE(at),
      offset: Number(bytes.readBigUInt64LE(at + 8)),
      address: Number(bytes.readBigUInt64LE(at + 16)),
      size: Number(bytes.readBigUInt64LE(at + 32)),
    };
  });
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (!dynamic) return { format: 'elf', machine, needed, searchPaths };
  const DT_NEEDED = 1;
  const DT_STRTAB = 5;
  const DT_RPATH = 15;
  const DT_RUNPATH = 29;
  const entries: Array<[number, number]> = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = Number(bytes.readBigInt64LE(at));
    if (tag === 0) break;
    entries.push([tag, Number(bytes.readBigUInt64LE(at + 8))]);
  }
  const strtabAddress = entries.find(([tag]) => tag === DT_STRTAB)?.[1] ?? 0;
  const load = segments.find((s) => s.type === PT_LOAD && strtabAddress >= s.address && strtabAddress < s.address + s.size);
  const strtab = load ? load.offset + strtabAddress - load.address : 0;
  for (const [tag, value] of entries) {
    if (tag === DT_NEEDED) needed.push(cString(bytes, strtab + value));
    else if (tag === DT_RPATH || tag === DT_RUNPATH) searchPaths.push(...cString(bytes, strtab + value).split(':'));
  }
  return { format: 'elf', machine, needed, searchPaths };
}
