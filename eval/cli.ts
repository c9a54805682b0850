#!/usr/bin/env -S npx tsx
/**
 * The whole command line, `npm run cli -- <command> [options]`: train/'s commands (train-vae, encode, train-dit,
 * sample, info) and the evaluation commands (eval-vae, eval-samples). It lives in eval/ because eval/ is the layer
 * below train/: eval/ may import train/, never the other way, so this is the first place that sees both tables.
 */
import { COMMANDS as TRAIN_COMMANDS, main as runCommand } from '../train/cli.js';
import type { Command } from '../train/commands/command.js';
import { evalSamplesCommand } from './cli/eval-samples.js';
import { evalVaeCommand } from './cli/eval-vae.js';
import { isEntryPoint } from '../train/cli/entry.js';

export const COMMANDS: readonly Command[] = [...TRAIN_COMMANDS, evalVaeCommand, evalSamplesCommand];

/** Runs one command line; returns the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  return runCommand(argv, COMMANDS);
}

if (isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
