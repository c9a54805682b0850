import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { Raster } from './raster.js';

/*
 * PNG and JPEG decoding by libraries (pngjs, jpeg-js), chosen by the file's signature rather than its name.
 * Both give 8-bit RGBA; the caller converts to RGB or grey as PIL's `convert` would.
 */

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export type ImageFormat = 'png' | 'jpeg';

export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/** Decodes PNG or JPEG bytes to RGBA; throws an Error whose message says what was wrong. */
export function decodeImage(bytes: Uint8Array): Raster {
  const format = sniffFormat(bytes);
  if (format === 'png') {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  }
  if (format === 'jpeg') {
    // The memory cap stops a forged header from asking for a huge buffer.
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    return { width: img.width, height: img.height, channels: 4, data: img.data };
  }
  throw new Error('neither a PNG nor a JPEG signature');
}

/** PNG bytes of an 8-bit grey, RGB or RGBA raster. */
export function encodePng(image: Raster): Buffer {
  const colorType = ({ 1: 0, 3: 2, 4: 6 } as const)[image.channels as 1 | 3 | 4];
  if (colorType === undefined) throw new RangeError(`encodePng: ${image.channels} channels (1, 3 or 4 are PNG's)`);
  return PNG.sync.write(Object.assign(new PNG({ width: image.width, height: image.height }), { data: Buffer.from(toRgba(image).data) }), {
    colorType,
    inputColorType: 6,
    inputHasAlpha: true,
  });
}

function toRgba(image: Raster): Raster {
  if (image.channels === 4) return image;
  const n = image.width * image.height;
  const data = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) data[i * 4 + c] = image.data[i * image.channels + (image.channels === 1 ? 0 : c)]!;
    data[i * 4 + 3] = 255;
  }
  return { ...image, channels: 4, data };
}
