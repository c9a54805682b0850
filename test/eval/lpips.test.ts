import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { type Tensor, fromArray, full, manualSeed, saveSafetensors } from '../../engine/index.js';
import { loadLpips, lpipsPerImage } from '../../eval/lpips.js';
import { LPIPS } from '../../models/vavae/losses/lpips.js';
import { type Images, conv2d, maxPool, relu } from './reference.js';

/** torchvision's VGG16 configuration D ('M' = 2×2 max pool); LPIPS taps the ReLU before each pool and the last one. */
const VGG16 = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512] as const;
/** `vgg16().features` index → taming's slice: slices end after indices 3, 8, 15, 22, 29. */
const sliceOf = (index: number) => [3, 8, 15, 22, 29].findIndex((end) => index <= end) + 1;

/** LPIPS from its definition, in float64 loops, reading the weights from the module's state dict. */
function lpipsByDefinition(model: LPIPS, x: Images, y: Images): number {
  const state = model.stateDict();
  const values = (key: string) => Float64Array.from(state.get(key)!.toArraySync());
  const features = (input: Images): Images[] => {
    // The module keeps these constants as float32 buffers, as taming does.
    const shift = [-0.03, -0.088, -0.188].map(Math.fround);
    const scale = [0.458, 0.448, 0.45].map(Math.fround);
    let h: Images = { shape: input.shape, data: input.data.map((v, i) => (v - shift[Math.floor(i / 256) % 3]!) / scale[Math.floor(i / 256) % 3]!) };
    const taps: Images[] = [];
    let index = 0;
    for (const entry of VGG16) {
      if (entry === 'M') {
        taps.push(h);
        h = maxPool(h, 2, 2);
        index += 1;
        continue;
      }
      const key = `net.slice${sliceOf(index)}.${index}`;
      h = relu(conv2d(h, values(`${key}.weight`), [entry, 3, 3], { padding: [1, 1], bias: values(`${key}.bias`) }));
      index += 2;
    }
    taps.push(h);
    return taps;
  };
  const unit = ({ shape, data }: Images): Images => {
    const [, c, hh, ww] = shape;
    const out = new Float64Array(data.length);
    for (let p = 0; p < hh * ww; p++) {
      let norm = 0;
      for (let ch = 0; ch < c; ch++) norm += data[ch * hh * ww + p]! ** 2;
      for (let ch = 0; ch < c; ch++) out[ch * hh * ww + p] = data[ch * hh * ww + p]! / (Math.sqrt(norm) + 1e-10);
    }
    return { shape, data: out };
  };
  const [a, b] = [features(x).map(unit), features(y).map(unit)];
  let total = 0;
  a.forEach((fa, k) => {
    const [, c, hh, ww] = fa.shape;
    const lin = values(`lin${k}.model.1.weight`);
    let sum = 0;
    for (let p = 0; p < hh * ww; p++) {
      for (let ch = 0; ch < c; ch++) sum += lin[ch]! * (fa.data[ch * hh * ww + p]! - b[k]!.data[ch * hh * ww + p]!) ** 2;
    }
    total += sum / (hh * ww);
  });
  return total;
}

function image(salt: number): { tensor: Tensor; ref: Images } {
  const data = Float64Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.tanh(Math.sin(i * 0.91 + salt) * 2));
  return { tensor: fromArray(data, [1, 3, 16, 16]), ref: { shape: [1, 3, 16, 16], data } };
}

describe('LPIPS as a metric', () => {
  // VGG16 has 14.7M parameters: one instance (random weights, float64) serves every check.
  let model: LPIPS;
  beforeAll(() => {
    manualSeed(11);
    model = new LPIPS().to('float64');
  });

  test('agrees with its definition on random weights (scaling, VGG16 taps, unit channels, linear heads, mean)', async () => {
    const [x, y] = [image(1), image(2)];
    const [d] = await lpipsPerImage(model, x.tensor, y.tensor);
    const expected = lpipsByDefinition(model, x.ref, y.ref);
    expect(Math.abs(d! - expected)).toBeLessThan(1e-10 * Math.abs(expected));
  });

  test('one distance per image pair, zero for identical images', async () => {
    const [x, y] = [image(3), image(4)];
    const pair = fromArray(Float64Array.from([...x.ref.data, ...y.ref.data]), [2, 3, 16, 16]);
    const twice = fromArray(Float64Array.from([...y.ref.data, ...y.ref.data]), [2, 3, 16, 16]);
    const distances = await lpipsPerImage(model, pair, twice);
    expect(distances.length).toBe(2);
    expect(distances[1]).toBe(0);
    expect(distances[0]).toBeCloseTo(lpipsByDefinition(model, x.ref, y.ref), 10);
  });

  test('loads weights without the scaling constants; other missing or extra keys are errors', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'lpips-'));
    try {
      const state = new Map([...model.stateDict()].filter(([k]) => !k.startsWith('scaling_layer.')));
      state.set('lin2.model.1.weight', full([1, 256, 1, 1], 0.5, { dtype: 'float64' }));
      const storeAs = Object.fromEntries([...state.keys()].map((k) => [k, 'F32' as const]));
      await saveSafetensors(join(folder, 'good.safetensors'), state, { storeAs });
      await loadLpips(join(folder, 'good.safetensors'), model);
      expect(model.lin2.model.stateDict().get('1.weight')!.toArraySync()[7]).toBe(0.5);

      await saveSafetensors(join(folder, 'bad.safetensors'), new Map([['net.slice1.0.bias', full([64], 0)], ['extra', full([1], 0)]]));
      await expect(loadLpips(join(folder, 'bad.safetensors'), model)).rejects.toThrow(/missing net\.slice1\.0\.weight, .*; unexpected extra/);
    } finally {
      await rm(folder, { recursive: true });
    }
  });
});
