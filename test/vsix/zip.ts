/** Reads and rewrites VSIX files (zips) in memory, for the packaging tests. */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as yauzl from 'yauzl';
import * as yazl from 'yazl';

/** Every file entry of a zip, name to contents (directory entries left out). */
export async function readZip(file: string): Promise<Map<string, Buffer>> {
  const zip = await yauzl.openPromise(file);
  const entries = new Map<string, Buffer>();
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
      entries.set(entry.fileName, Buffer.concat(chunks));
    }
  } finally {
    zip.close();
  }
  return entries;
}

/** Writes entries as a zip, stored uncompressed (these files live only for one test). */
export async function writeZip(file: string, entries: Map<string, Buffer>): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, contents] of entries) zip.addBuffer(contents, name, { compress: false });
  zip.end();
  await pipeline(zip.outputStream, fs.createWriteStream(file));
}
