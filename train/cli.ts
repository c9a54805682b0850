#!/usr/bin/env -S npx tsx
/**
 * Headless training and sampling: `tsx train/cli.ts <command> [options]`.
 *
 *   train-vae   train the VA-VAE tokenizer on MNIST (default) or an image folder
 *   encode      turn the images into latent shards with the trained tokenizer
 *   train-dit   train LightningDiT on the latents
 *   sample      draw class-conditional pictures from a checkpoint
 *   info        backends, adapter limits, machine
 *
 * The evaluation commands (eval-vae, eval-samples) live in eval/, the layer below train/; `eval/cli.ts` is the
 * full program with both (`npm run cli`).
 *
 * Errors about inputs (configurations, data, checkpoints, flags) print as one message and exit with code 1
 * (2 for a wrong command line); anything else is a bug and prints its stack.
 */
import { EngineError } from '../engine/index.js';
import { UsageError, formatHelp, parseArgs } from './cli/args.js';
import { encodeCommand } from './commands/encode.js';
import { infoCommand } from './commands/info.js';
import type { Command } from './commands/command.js';
import { sampleCommand } from './commands/sample.js';
import { trainDitCommand } from './commands/train-dit.js';
import { trainVaeCommand } from './commands/train-vae.js';
import { TrainError } from './errors.js';
import { isEntryPoint } from './cli/entry.js';

export const COMMANDS: readonly Command[] = [trainVaeCommand, encodeCommand, trainDitCommand, sampleCommand, infoCommand];

const PROGRAM = 'vavae-dit';

function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    `usage: ${PROGRAM} <command> [options]     (${PROGRAM} <command> --help for its options)`,
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'The MNIST path, end to end: npm start (train-vae → encode → train-dit → sample).',
  ].join('\n');
}

/**
 * Runs one command line; returns the exit code. `commands` is the command table: the training commands here, and
 * with eval/'s commands added by the full program (`eval/cli.ts`), since train/ must not import eval/.
 */
export async function main(argv: readonly string[], commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === 'help' || name === '-h') {
    console.log(overview(commands));
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`);
    const args = parseArgs(rest, command.flags, command.name);
    if (args.values.has('help')) {
      console.log(formatHelp(`usage: ${PROGRAM} ${command.name} [options]`, command.summary, command.flags, command.details));
      return 0;
    }
    await command.run(args);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof TrainError || e instanceof EngineError) {
      console.error(`error: ${e.message}`);
      return e instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
