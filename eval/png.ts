import { writeFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import { EngineError } from '../engine/errors.js';

/*
 * A PNG encoder for 8-bit images (grey, RGB or RGBA): the signature, an IHDR chunk, the rows (each prefixed by
 * filter type 0, "none") deflated into one IDAT chunk, and IEND. Every chunk is length, type, data, and the CRC-32
 * of type and data.
 */

export interface RasterImage {
  width: number;
  height: number;
  /** 1 grey, 3 RGB, 4 RGBA; `data` is row-major with the channels interleaved. */
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const COLOUR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO-HDLC, the one PNG and zlib use). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export function encodePng({ width, height, channels, data }: RasterImage): Uint8Array {
  if (!(channels in COLOUR_TYPE)) throw new EngineError(`encodePng: ${channels} channels; PNG here takes 1, 3 or 4`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new EngineError(`encodePng: invalid size ${width}×${height}`);
  if (data.length !== width * height * channels) throw new EngineError(`encodePng: ${data.length} bytes for a ${width}×${height}×${channels} image`);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, COLOUR_TYPE[channels], 0, 0, 0], 8); // bit depth, colour type, compression, filter, interlace

  const stride = width * channels;
  const rows = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) rows.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);

  const parts = [SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function writePng(path: string, image: RasterImage): Promise<void> {
  await writeFile(path, encodePng(image));
}
