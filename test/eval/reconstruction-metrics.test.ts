import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fromArray } from '../../engine/index.js';
import { meanOf, psnrPerImage } from '../../eval/psnr.js';
import { dequantizeImages, quantizeImages } from '../../eval/quantize.js';
import { ssim } from '../../eval/ssim.js';

describe('quantizeImages', () => {
  test('clamp(127.5·x + 128, 0, 255) then truncation, as the official PNG writer', async () => {
    const x = fromArray([-1, 1, 0, -2, 2, -0.0039, 0.004, 0.5], [1, 1, 2, 4], { dtype: 'float64' });
    // 127.5·(−0.0039) + 128 = 127.50…; 127.5·0.004 + 128 = 128.51; 127.5·0.5 + 128 = 191.75.
    expect([...(await quantizeImages(x))]).toEqual([0, 255, 128, 0, 255, 127, 128, 191]);
  });

  test('bytes survive the round trip through dequantizeImages', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...(await quantizeImages(dequantizeImages(bytes, [1, 1, 16, 16])))]).toEqual([...bytes]);
  });
});

describe('psnrPerImage', () => {
  test('a known MSE: every byte off by 1 gives 20·log10(255); off by 5 gives 20·log10(255/5)', () => {
    const a = Uint8Array.from({ length: 12 }, (_, i) => 100 + i);
    expect(psnrPerImage(a, a.map((v) => v + 1), 1)[0]).toBeCloseTo(20 * Math.log10(255), 12);
    expect(psnrPerImage(a, a.map((v) => v - 5), 2)[1]).toBeCloseTo(20 * Math.log10(51), 12);
  });

  test('per image, then averaged (not the PSNR of the mean MSE); identical images give +∞', () => {
    const reference = new Uint8Array(8).fill(50);
    const reconstruction = Uint8Array.of(51, 51, 51, 51, 60, 40, 60, 40); // MSE 1 and 100
    const values = psnrPerImage(reference, reconstruction, 2);
    expect(meanOf(values)).toBeCloseTo((20 * Math.log10(255) + 20 * Math.log10(25.5)) / 2, 12);
    expect(psnrPerImage(reference, reference, 2)[0]).toBe(Infinity);
    expect(() => psnrPerImage(reference, reconstruction, 3)).toThrow(/equal images/);
  });
});

/** SSIM straight from its definition: each window position, Gaussian weights, torchmetrics' clamps. */
function ssimByDefinition(x: Float64Array, y: Float64Array, [n, c, h, w]: number[], range: number): number[] {
  const size = 11;
  const half = 5;
  const taps = Array.from({ length: size }, (_, i) => Math.exp(-(((i - half) / 1.5) ** 2) / 2));
  const total = taps.reduce((a, b) => a + b, 0);
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const out: number[] = [];
  for (let img = 0; img < n; img++) {
    let sum = 0;
    let positions = 0;
    for (let ch = 0; ch < c; ch++) {
      const base = (img * c + ch) * h * w;
      for (let oy = 0; oy + size <= h; oy++) {
        for (let ox = 0; ox + size <= w; ox++) {
          let [mx, my, mxx, myy, mxy] = [0, 0, 0, 0, 0];
          for (let i = 0; i < size; i++) {
            for (let j = 0; j < size; j++) {
              const g = (taps[i]! / total) * (taps[j]! / total);
              const a = x[base + (oy + i) * w + ox + j]!;
              const b = y[base + (oy + i) * w + ox + j]!;
              mx += g * a;
              my += g * b;
              mxx += g * a * a;
              myy += g * b * b;
              mxy += g * a * b;
            }
          }
          const vx = Math.max(mxx - mx * mx, 0);
          const vy = Math.max(myy - my * my, 0);
          sum += ((2 * mx * my + c1) * (2 * (mxy - mx * my) + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
          positions++;
        }
      }
    }
    out.push(sum / positions);
  }
  return out;
}

describe('ssim', () => {
  test('agrees with the definition on random images, clamping to the data range (−1, 1)', () => {
    const shape = [2, 3, 13, 15];
    const size = shape.reduce((a, b) => a * b, 1);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1200, max: 1200 }), { minLength: 2 * size, maxLength: 2 * size }), (raw) => {
        const x = Float64Array.from(raw.slice(0, size), (v) => v / 1000);
        const y = Float64Array.from(raw.slice(size), (v) => v / 1000);
        const got = ssim(fromArray(x, shape), fromArray(y, shape)).toArraySync();
        const clampRange = (v: number) => Math.min(Math.max(v, -1), 1);
        const expected = ssimByDefinition(x.map(clampRange), y.map(clampRange), shape, 2);
        expected.forEach((e, i) => expect(got[i]).toBeCloseTo(e, 12));
      }),
      { numRuns: 10 },
    );
  });

  test('identical images give 1; a numeric data range is used as is, without clamping', () => {
    const shape = [1, 1, 12, 11];
    const x = fromArray(Float64Array.from({ length: 132 }, (_, i) => Math.sin(i) * 3), shape);
    expect(ssim(x, x).itemSync()).toBeCloseTo(1, 14);
    expect(ssim(x, x, { dataRange: 6 }).itemSync()).toBeCloseTo(1, 14);
    const y = fromArray(Float64Array.from({ length: 132 }, (_, i) => Math.cos(i) * 3), shape);
    expect(ssim(x, y, { dataRange: 6 }).itemSync()).toBeCloseTo(ssimByDefinition(x.toArraySync() as Float64Array, y.toArraySync() as Float64Array, shape, 6)[0]!, 12);
  });

  test('rejects mismatched shapes and images smaller than the window', () => {
    expect(() => ssim(fromArray(new Float32Array(144), [1, 1, 12, 12]), fromArray(new Float32Array(144), [1, 1, 144, 1]))).toThrow(/one shape/);
    expect(() => ssim(fromArray(new Float32Array(100), [1, 1, 10, 10]), fromArray(new Float32Array(100), [1, 1, 10, 10]))).toThrow(/smaller than the 11×11 window/);
  });
});
