import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import { AdamW, Attention, Conv2d, GroupNorm, Linear } from '../../nn/index.js';
import { describeGpu } from './helpers.js';

/*
 * The leak test of the WebGPU backend: 200 training steps of a small conv + attention network (forward, loss,
 * backward, AdamW, zeroGrad) inside a scope each must leave the live GPU bytes exactly where the first steps left
 * them, and must stop creating new buffers once the pool is warm.
 */
describeGpu('memory on WebGPU', () => {
  test('200 training steps of a conv + attention network keep live GPU bytes flat', async () => {
    E.manualSeed(7);
    const previous = E.getBackend().name;
    E.setBackend('webgpu');
    try {
      const conv = new Conv2d(2, 8, 3, { padding: 1 });
      const norm = new GroupNorm(2, 8);
      const attention = new Attention(8, 2);
      const head = new Linear(8, 1);
      const params = [conv, norm, attention, head].flatMap((m) => m.parameters());
      const optimizer = new AdamW(params, { lr: 1e-2 });
      const x = E.randn([2, 2, 6, 6]);
      const target = E.randn([2, 36, 1]);

      const step = () =>
        E.scope(async () => {
          const features = E.silu(norm.forward(conv.forward(x)));
          const tokens = E.transpose(E.reshape(features, [2, 8, 36]), 1, 2);
          const loss = E.mseLoss(head.forward(attention.forward(tokens)), target);
          loss.backward();
          optimizer.step();
          optimizer.zeroGrad();
          return loss.item();
        });

      const first = await step();
      await step();
      await step();
      const live = E.webgpuMemory().liveBytes;
      const created = E.webgpuMemory().created;
      let last = first;
      for (let i = 0; i < 200; i++) {
        last = await step();
        if (E.webgpuMemory().liveBytes !== live) expect.fail(`step ${i}: live GPU bytes went from ${live} to ${E.webgpuMemory().liveBytes}`);
      }
      expect(E.webgpuMemory().created).toBe(created);
      expect(last).toBeLessThan(first);
    } finally {
      E.setBackend(previous);
    }
  });
});
