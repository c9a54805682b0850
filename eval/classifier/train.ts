/**
 * Trains the MNIST classifier that judges generated digits and writes its weights (checked in) to
 * models/foundation/weights/. Usage: npm run train-classifier -- [--steps N] [--batch B] [--lr LR] [--seed S] [--out PATH]
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Generator, argmax, crossEntropy, fromArray, manualSeed, noGrad, saveSafetensors, scope } from '../../engine/index.js';
import { Adam } from '../../nn/index.js';
import { type ImageDataset, openMnist } from '../../train/data/images.js';
import { permutation } from '../random.js';
import { batchOf } from './batch.js';
import { CLASSIFIER_SIDE, MNIST_CLASSIFIER_WEIGHTS, MnistClassifier } from '../../models/foundation/index.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '700' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.002' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: MNIST_CLASSIFIER_WEIGHTS },
  },
});
const steps = Number(args.steps);
const batch = Number(args.batch);
const peakLr = Number(args.lr);
const seed = Number(args.seed);

/** Share of `dataset` that `model` classifies correctly. */
async function accuracy(model: MnistClassifier, dataset: ImageDataset): Promise<number> {
  let correct = 0;
  const chunk = 500;
  for (let start = 0; start < dataset.size; start += chunk) {
    const indices = Array.from({ length: Math.min(chunk, dataset.size - start) }, (_, i) => start + i);
    const { images, labels } = batchOf(dataset, indices);
    const predicted = noGrad(() => scope(() => argmax(model.forward(images), 1).toArraySync()));
    images.dispose();
    labels.forEach((label, i) => (correct += +(predicted[i] === label)));
  }
  return correct / dataset.size;
}

const [train, test] = await Promise.all([openMnist({ split: 'train', imageSize: CLASSIFIER_SIDE }), openMnist({ split: 'test', imageSize: CLASSIFIER_SIDE })]);
manualSeed(seed);
const model = new MnistClassifier();
const optimizer = new Adam(model.parameters(), { lr: peakLr });
const shuffler = new Generator(seed + 1);
let order = permutation(train.size, shuffler);
let cursor = 0;
const started = performance.now();

for (let step = 0; step < steps; step++) {
  if (cursor + batch > train.size) {
    order = permutation(train.size, shuffler);
    cursor = 0;
  }
  const indices = order.subarray(cursor, (cursor += batch));
  // Linear decay to zero: the last steps average out the noise of the small batches.
  optimizer.paramGroups[0]!.lr = peakLr * (1 - step / steps);
  const loss = scope(() => {
    const { images, labels } = batchOf(train, indices);
    const l = crossEntropy(model.forward(images), fromArray(labels, [batch], { dtype: 'int32' }));
    l.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return l.itemSync();
  });
  if (step % 50 === 0 || step === steps - 1) {
    console.log(`step ${step + 1}/${steps}  loss ${loss.toFixed(4)}  ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}

model.eval();
const testAccuracy = await accuracy(model, test);
console.log(`test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${test.size} images`);
await mkdir(dirname(args.out), { recursive: true });
await saveSafetensors(args.out, model.stateDict(), {
  metadata: { testAccuracy: testAccuracy.toFixed(4), steps: String(steps), batch: String(batch), lr: String(peakLr), seed: String(seed) },
});
console.log(`wrote ${args.out}`);
