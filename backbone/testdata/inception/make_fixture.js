// Reference outputs of the inception_v3 trunk for backbone/inception_test.go.
//
// Loads the TensorFlow.js InceptionV3 model that the npm package nsfwjs@4.4.0
// ships (dist/models/inception_v3, the very files the Go converter reads),
// cuts its Keras graph at mixed2 and mixed5, runs it with TensorFlow.js on the
// pure-JavaScript CPU backend on a fixed input given by a formula, and writes
// both outputs, transposed to NCHW, as float32 little-endian safetensors:
// fixture.safetensors.
//
// Usage (from this folder):
//   npm ci                                # @tensorflow/tfjs, pinned by package-lock.json
//   node make_fixture.js [nsfwjs-4.4.0.tgz]
// Without an argument it runs `npm pack nsfwjs@4.4.0` in a temporary folder.

'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const tf = require('@tensorflow/tfjs');

const PACKAGE = 'nsfwjs@4.4.0';
const INTEGRITY = 'sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA==';
const MODEL_DIR = 'package/dist/models/inception_v3';
const OUTPUTS = ['mixed2', 'mixed5'];
// Input: N x 3 x H x W; non-square and batch 2, so that a swapped axis or a
// batch-indexing error shows.
const N = 2, H = 91, W = 75;

// input returns element (n, c, y, x) of the input, in [-1, 1]. The Go test
// computes the same formula (inceptionFixtureInput).
function input(n, c, y, x) {
  return Math.sin(0.11 * y * (n + 1) + 0.07 * x + 1.3 * c + 0.5 * n) * Math.cos(0.05 * x * (c + 1) - 0.03 * y);
}

function extract(tgz) {
  const sum = 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(tgz)).digest('base64');
  if (sum !== INTEGRITY) throw new Error(`${tgz}: integrity ${sum}, want ${INTEGRITY}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfwjs-'));
  execFileSync('tar', ['-xzf', tgz, '-C', dir, MODEL_DIR]);
  return dir;
}

function packageTarball() {
  if (process.argv[2]) return path.resolve(process.argv[2]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfwjs-pack-'));
  const out = JSON.parse(execFileSync('npm', ['pack', PACKAGE, '--json'], { cwd: dir }).toString());
  return path.join(dir, out[0].filename);
}

// truncate keeps the layers that mixed2 and mixed5 depend on, and frees the
// input size.
function truncate(topology) {
  const cfg = topology.model_config.config;
  const byName = new Map(cfg.layers.map((l) => [l.name, l]));
  const keep = new Set();
  const visit = (name) => {
    if (keep.has(name)) return;
    keep.add(name);
    for (const node of byName.get(name).inbound_nodes) for (const inb of node) visit(inb[0]);
  };
  OUTPUTS.forEach(visit);
  const layers = cfg.layers.filter((l) => keep.has(l.name));
  layers[0].config.batch_input_shape = [null, H, W, 3];
  return {
    ...topology,
    training_config: undefined,
    model_config: { ...topology.model_config, config: { ...cfg, layers, output_layers: OUTPUTS.map((o) => [o, 0, 0]) } },
  };
}

function safetensors(tensors, meta) {
  const header = { __metadata__: meta };
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + 4 * t.data.length] };
    off += 4 * t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const parts = [len, Buffer.from(json)];
  for (const t of Object.values(tensors)) parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, 4 * t.data.length));
  return Buffer.concat(parts);
}

// checkWeights makes sure every weight of the cut model was loaded from the
// package (loading with strict: false would otherwise leave a misnamed weight
// at its random initial value): each must equal min + scale * q of its
// manifest entry.
function checkWeights(net, group, data) {
  const specs = new Map();
  let off = 0;
  for (const w of group.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    specs.set(w.name, { w, off });
    off += n;
  }
  for (const v of net.weights) {
    const s = specs.get(v.originalName);
    if (!s) throw new Error(`weight ${v.originalName} is not in the manifest`);
    const got = v.read().dataSync();
    const q = s.w.quantization;
    for (let i = 0; i < got.length; i += 97) {
      if (got[i] !== Math.fround(data[s.off + i] * q.scale + q.min)) throw new Error(`weight ${v.originalName}[${i}] was not loaded`);
    }
  }
  console.log(`${net.weights.length} weights checked against the package`);
}

async function main() {
  await tf.setBackend('cpu');
  const tmp = extract(packageTarball());
  const dir = path.join(tmp, MODEL_DIR);
  const model = require(path.join(dir, 'model.min.js'));
  const group = model.weightsManifest[0];
  const weightData = Buffer.concat(group.paths.map((p) => Buffer.from(require(path.join(dir, p + '.min.js')), 'base64')));
  const net = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: truncate(model.modelTopology),
      weightSpecs: group.weights,
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.length),
    }),
    { strict: false },
  );
  checkWeights(net, group, weightData);

  const x = new Float32Array(N * H * W * 3);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++)
        for (let c = 0; c < 3; c++) x[((n * H + y) * W + xx) * 3 + c] = input(n, c, y, xx);
  const outs = net.predict(tf.tensor4d(x, [N, H, W, 3]));

  const tensors = {};
  OUTPUTS.forEach((name, i) => {
    const nchw = outs[i].transpose([0, 3, 1, 2]);
    tensors[name] = { shape: nchw.shape, data: nchw.dataSync() };
    console.log(name, JSON.stringify(nchw.shape), 'max', Math.max(...tensors[name].data).toFixed(4));
  });
  const meta = {
    source: `${PACKAGE} ${MODEL_DIR.replace('package/', '')}`,
    reference: `@tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
    input: `N=${N} C=3 H=${H} W=${W}: ${input.toString().match(/return (.*);/)[1]}`,
  };
  fs.writeFileSync(path.join(__dirname, 'fixture.safetensors'), safetensors(tensors, meta));
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
