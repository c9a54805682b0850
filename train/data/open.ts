import type { ImageDataConfig } from '../config/schema.js';
import { type ImageDataset, openImageFolder, openMnist } from './images.js';

/** The image data set that a configuration's `data` section describes. */
export async function openImageDataset(data: ImageDataConfig, warn: (message: string) => void = console.warn): Promise<ImageDataset> {
  if (data.source === 'mnist') return openMnist({ split: data.split, imageSize: data.imageSize, limit: data.limit });
  return openImageFolder({ path: data.path, imageSize: data.imageSize, channels: data.channels, limit: data.limit, skipCorrupt: data.skipCorrupt, warn });
}
