import * as ort from 'onnxruntime-node';
const dir = process.argv[2];
const cos = (a, b) => { let d = 0, x = 0, y = 0; for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; x += a[i] * a[i]; y += b[i] * b[i]; } return d / Math.sqrt(x * y); };
const s = Number(process.argv[3]);
const px = new ort.Tensor('float32', Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i * 0.013) * 1.5), [1, 3, s, s]);
const ids = [49406, 320, 1125, 539, 320, 2368, 49407];
const tx = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) };
const opts = { intraOpNumThreads: 1 };
const run = async (f, feeds, out) => { const sess = await ort.InferenceSession.create(`${dir}/onnx/${f}`, opts); if (sess.inputNames.includes('attention_mask')) feeds = { ...feeds, attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]) }; const r = await sess.run(feeds); return r[out].data; };
for (const sfx of ['_quantized', '_q4', '_bnb4']) {
  const v0 = await run('vision_model.onnx', { pixel_values: px }, 'image_embeds');
  const v1 = await run(`vision_model${sfx}.onnx`, { pixel_values: px }, 'image_embeds');
  const t0 = await run('text_model.onnx', tx, 'text_embeds');
  const t1 = await run(`text_model${sfx}.onnx`, tx, 'text_embeds');
  console.log(sfx, 'vision cos', cos(v0, v1).toFixed(4), 'text cos', cos(t0, t1).toFixed(4));
}
