import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { encodePng } from '../../train/data/decode.js';
import { main } from '../../train/cli.js';

/** A fresh temporary folder. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `train-${prefix}-`));
}

/** Runs the command line in-process; returns its exit code and everything it printed. */
export async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const warn = vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  const exitCode = process.exitCode;
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.exitCode = exitCode;
    for (const spy of [log, error, warn, write]) spy.mockRestore();
  }
}

/**
 * An ImageFolder of small grey PNG images: `perClass` images in each class folder, each a bright square whose
 * position depends on the class (so that classes differ), side `size`.
 */
export async function makeImageFolder(root: string, { classes = ['circle', 'square'], perClass = 6, size = 20 } = {}): Promise<string> {
  for (const [c, name] of classes.entries()) {
    await mkdir(join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const data = new Uint8Array(size * size * 3);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const inside = Math.abs(x - size / 2 - (c ? 3 : -3)) < 3 + (i % 3) && Math.abs(y - size / 2) < 4;
          data.fill(inside ? 230 : 20 + i, (y * size + x) * 3, (y * size + x) * 3 + 3);
        }
      }
      await writeFile(join(root, name, `img${i}.png`), encodePng({ width: size, height: size, channels: 3, data }));
    }
  }
  return root;
}

/** Writes a configuration object as a JSON file and returns its path. */
export async function writeConfig(dir: string, name: string, config: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}
