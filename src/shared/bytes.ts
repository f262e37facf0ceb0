/** Bytes ready for postMessage. */

/**
 * A plain Uint8Array over exactly these bytes. Bytes from the engine arrive as Node Buffers, which
 * webview.postMessage would serialise through Buffer.toJSON (an array of numbers), and a Buffer
 * may view a larger shared pool, which would travel whole.
 */
export function plainBytes(b: Uint8Array): Uint8Array {
  if (Object.getPrototypeOf(b) === Uint8Array.prototype && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
}
