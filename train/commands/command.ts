import type { FlagSpec, ParsedArgs } from '../cli/args.js';

/** One subcommand of the command line. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  flags: FlagSpec[];
  /** Extra help text (examples). */
  details?: string;
  run(args: ParsedArgs): Promise<void>;
}
