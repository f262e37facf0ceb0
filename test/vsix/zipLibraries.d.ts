// The parts of yauzl 3 and yazl 2 (zip reader and writer, dependencies of @vscode/vsce) the VSIX tests use.
declare module 'yauzl' {
  import type { Readable } from 'node:stream';
  interface Entry {
    fileName: string;
  }
  interface ZipFile {
    eachEntry(): AsyncIterable<Entry>;
    openReadStreamPromise(entry: Entry): Promise<Readable>;
    close(): void;
  }
  export function openPromise(path: string): Promise<ZipFile>;
}

declare module 'yazl' {
  import type { Readable } from 'node:stream';
  export class ZipFile {
    addBuffer(buffer: Buffer, metadataPath: string, options?: { compress?: boolean }): void;
    end(): void;
    outputStream: Readable;
  }
}
