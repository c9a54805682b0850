import * as E from '../engine/index.js';
import { LightningDiT } from '../models/lightningdit/index.js';
import { trainingLosses, RELEASED_TRANSPORT } from '../models/transport/index.js';
import { AdamW } from '../nn/index.js';
const [hidden, depth, patch, batch, side, ch] = process.argv.slice(2).map(Number);
const model = new LightningDiT({ inputSize: side, patchSize: patch, inChannels: ch, hiddenSize: hidden, depth, numHeads: 4, numClasses: 10, useSwiglu: true, useRope: true, useRmsnorm: true });
const opt = new AdamW(model.parameters().filter(p => p.requiresGrad), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0 });
console.log('params', model.numParameters());
const x = E.randn([batch, ch, side, side]); const y = E.randint(0, 10, [batch], { dtype: 'int32' });
for (let i = 0; i < 6; i++) {
  const t0 = performance.now();
  E.scope(() => {
    const terms = trainingLosses((a, b, c) => model.forward(a, b, c), x, y, RELEASED_TRANSPORT);
    terms.loss.backward();
    opt.step(); opt.zeroGrad();
    return terms.loss.itemSync();
  });
  console.log('step ms', (performance.now() - t0).toFixed(0));
}
