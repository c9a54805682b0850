import { inflateSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { crc32, encodePng } from '../../eval/png.js';
import { scatterPlot, viridis } from '../../eval/plot.js';

/** A minimal PNG reader for what encodePng writes: chunks (checking CRCs), IHDR, and unfiltered rows. */
function decode(png: Uint8Array) {
  expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    expect(view.getUint32(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const header = new DataView(chunks[0]!.data.buffer, chunks[0]!.data.byteOffset, 13);
  const [width, height, depth, colourType] = [header.getUint32(0), header.getUint32(4), header.getUint8(8), header.getUint8(9)];
  const channels = { 0: 1, 2: 3, 6: 4 }[colourType]!;
  const raw = inflateSync(chunks[1]!.data);
  const stride = width * channels;
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0); // filter "none"
    data.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, depth, channels, data };
}

describe('encodePng', () => {
  test('CRC-32 of known strings', () => {
    expect(crc32(new TextEncoder().encode('IEND'))).toBe(0xae426082);
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  test.each([1, 3, 4] as const)('%i-channel images decode to the same bytes', (channels) => {
    const [width, height] = [5, 3];
    const data = Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37) % 256);
    const decoded = decode(encodePng({ width, height, channels, data }));
    expect(decoded).toEqual({ width, height, depth: 8, channels, data });
  });

  test('rejects sizes that do not match the bytes', () => {
    expect(() => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) })).toThrow(/11 bytes for a 2×2×3 image/);
    expect(() => encodePng({ width: 0, height: 2, channels: 1, data: new Uint8Array(0) })).toThrow(/invalid size/);
  });
});

describe('scatterPlot', () => {
  test('viridis ends and middle are matplotlib’s', () => {
    expect(viridis(0)).toEqual([68, 1, 84]);
    expect(viridis(0.5)).toEqual([33, 145, 140]);
    expect(viridis(1)).toEqual([253, 231, 37]);
    expect(viridis(-3)).toEqual(viridis(0));
  });

  test('points land at the corners of the plotting area, blended with white by alpha', () => {
    const image = scatterPlot([0, 0, 10, 5], [1, 2], { width: 21, height: 11, radius: 0.5, alpha: 0.5, margin: 0 });
    const pixel = (x: number, y: number) => [...image.data.subarray((y * 21 + x) * 3, (y * 21 + x) * 3 + 3)];
    const blend = (c: number[]) => c.map((v) => Math.round(0.5 * v + 0.5 * 255));
    expect(pixel(0, 10)).toEqual(blend(viridis(0))); // lowest value at the data's bottom-left
    expect(pixel(20, 0)).toEqual(blend(viridis(1))); // highest at the top-right
    expect(pixel(10, 5)).toEqual([255, 255, 255]);
  });
});
