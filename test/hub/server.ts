/**
 * A stand-in for the Hugging Face hub on loopback: serves fixture model folders in the hub's
 * URL layout (`/{owner}/{name}/resolve/{revision}/{file}`), with byte ranges, a request log
 * and injectable faults, so the real download path (Transformers.js → fetch → cache) is tested.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface HubFault {
  /** File path inside the repo, e.g. `onnx/vision_model.onnx`. */
  file: string;
  /** Send this many bytes of the body, then drop the connection. */
  dropAfterBytes?: number;
  /** How many requests the fault applies to (then the file is served normally). */
  times: number;
  /** Keep the connection open after those bytes, sending nothing more (a stalled hub or proxy). */
  stall?: boolean;
  /** Answer with this body instead, as a complete response (a mirror's truncated copy, a proxy's error page). */
  body?: Buffer;
  /** The content-length to announce with `body` (default: its true length; a lie makes it short or oversized). */
  contentLength?: number;
  /** The x-linked-size to announce (default: the real file's size, for LFS files). */
  linkedSize?: number;
  /** Answer 302 to the same URL, forever. */
  redirectLoop?: boolean;
  /** Answer with this HTTP status and no body (401 for a gated model). */
  status?: number;
  /** Send no x-linked-size / x-linked-etag (a mirror that does not). */
  plain?: boolean;
}

export interface LocalHub {
  /** Base URL with a trailing slash, for `remoteHost`. */
  url: string;
  requests: Array<{ method: string; path: string; host: string; authorization?: string }>;
  /** LFS files (.onnx) are answered as the real hub does: a 302 to a file store (`localhost` instead of 127.0.0.1: another origin) carrying x-linked-size / x-linked-etag. */
  lfsRedirects: boolean;
  faults: HubFault[];
  /** Files whose HEAD requests get no answer at all (a hub or proxy that hangs). */
  silentHeads: Set<string>;
  /** Files whose response the client closed before it was complete (a download stopped). */
  closedEarly: string[];
  close(): Promise<void>;
}

/** `repos` maps a hub id (`owner/name`) to a folder in the Transformers.js layout. */
export async function startLocalHub(repos: Record<string, string>, revisions: string[] = ['main']): Promise<LocalHub> {
  const hub: LocalHub = { url: '', requests: [], faults: [], silentHeads: new Set(), closedEarly: [], lfsRedirects: false, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    hub.requests.push({ method: req.method ?? 'GET', path: url.pathname, host: req.headers.host ?? '', authorization: req.headers.authorization });
    const fromStore = url.pathname.startsWith('/_store/');
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURIComponent(url.pathname.replace(/^\/_store/, '')));
    const root = m && repos[m[1]];
    const file = m && root && revisions.includes(m[2]) ? path.join(root, m[3]) : undefined;
    if (!file || !file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Entry not found');
      return;
    }
    if (req.method === 'HEAD' && hub.silentHeads.has(m![3])) return;
    const lfs = m![3].endsWith('.onnx');
    const linked = lfs ? { 'x-linked-size': String(fs.statSync(file).size), 'x-linked-etag': `"${sha256(file)}"` } : {};
    const fault = hub.faults.find((f) => f.times > 0 && m![3] === f.file);
    if (fault?.status) {
      fault.times--;
      res.writeHead(fault.status, { 'content-type': 'text/plain' }).end();
      return;
    }
    if (fault?.redirectLoop) {
      fault.times--;
      res.writeHead(302, { location: url.pathname }).end();
      return;
    }
    if (lfs && hub.lfsRedirects && !fromStore) {
      const port = (server.address() as AddressInfo).port;
      res.writeHead(302, { location: `http://localhost:${port}/_store${url.pathname}`, ...linked }).end();
      return;
    }
    if (fault?.body && req.method !== 'HEAD') {
      fault.times--;
      const sent = fault.plain ? {} : { ...linked, ...(fault.linkedSize !== undefined ? { 'x-linked-size': String(fault.linkedSize) } : {}) };
      res.writeHead(200, { ...sent, 'content-length': String(fault.contentLength ?? fault.body.length), 'content-type': 'application/octet-stream' });
      res.end(fault.body);
      if (fault.contentLength !== undefined && fault.contentLength > fault.body.length) res.socket?.end();
      return;
    }
    res.on('close', () => {
      if (!res.writableFinished) hub.closedEarly.push(m![3]);
    });
    const size = fs.statSync(file).size;
    let start = 0;
    let end = size - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    }
    const headers = { 'content-length': String(end - start + 1), 'content-type': 'application/octet-stream', etag: `"${size}"`, 'accept-ranges': 'bytes', ...(fromStore ? {} : linked) };
    if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}` });
    else res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (fault?.dropAfterBytes !== undefined && !range) {
      fault.times--;
      const partial = Buffer.alloc(Math.min(fault.dropAfterBytes, size));
      const fd = fs.openSync(file, 'r');
      fs.readSync(fd, partial, 0, partial.length, 0);
      fs.closeSync(fd);
      res.write(partial, () => fault.stall || setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    fs.createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  hub.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return hub;
}

const hashes = new Map<string, string>();
function sha256(file: string): string {
  const st = fs.statSync(file);
  const key = `${file}:${st.size}:${st.mtimeMs}`;
  let h = hashes.get(key);
  if (!h) hashes.set(key, (h = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')));
  return h;
}
