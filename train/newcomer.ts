/**
 * The newcomer's path, one command (`npm start`): on MNIST with the small ready configurations, train the VA-VAE,
 * encode the digits, train LightningDiT, and draw a grid of class-conditional samples — on the CPU backend unless
 * ENGINE_BACKEND says otherwise. The training stages have time budgets (train.maxMinutes in the configs), so the
 * whole path ends in about 20 minutes on a 2-core machine; it prints where the pictures are.
 */
import { rm } from 'node:fs/promises';
import { main } from './cli.js';

const RUN = 'runs/mnist';
const backend = ['--backend', process.env.ENGINE_BACKEND ?? 'cpu'];
const stages: [string, string[]][] = [
  ['1/4 train the VA-VAE tokenizer', ['train-vae', ...backend]],
  ['2/4 encode the digits to latents', ['encode', ...backend]],
  ['3/4 train LightningDiT on the latents', ['train-dit', ...backend]],
  ['4/4 draw class-conditional samples', ['sample', ...backend, '--checkpoint', `${RUN}/dit`, '--out', `${RUN}/samples`]],
];

const started = performance.now();
console.log(`Removing the previous demo run in ${RUN}/ (if any).`);
await rm(RUN, { recursive: true, force: true });
for (const [title, argv] of stages) {
  console.log(`\n=== ${title}: vavae-dit ${argv.join(' ')}`);
  const code = await main(argv);
  if (code !== 0) {
    console.error(`stage '${title}' failed (exit code ${code})`);
    process.exit(code);
  }
}
const minutes = (performance.now() - started) / 60000;
console.log(`\nDone in ${minutes.toFixed(1)} min. Samples (one column per digit 0–9): ${RUN}/samples/grid.png`);
console.log(`Also: ${RUN}/vae/samples/ (reconstructions), ${RUN}/dit/samples/ (grids during training), ${RUN}/*/loss.png, ${RUN}/*/metrics.jsonl`);
