import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { DType } from '../../engine/index.js';
import { LightningDiT, configFromOfficial } from '../../models/lightningdit/index.js';
import { FIXTURES_DIR, as, expectClose, leaf, fixtureStems, gradientTolerance, lightningDiTFrom, loadFixture, outputTolerance, stateDictOf } from './fixtures.js';

/*
 * LightningDiT against the official PyTorch model, for every lightningdit_*.safetensors fixture: state-dict keys,
 * forward, d(sum(out·R))/dx and every parameter gradient, in float32 and (against the *_f64 tensors) float64, and
 * forward_with_cfg with and without the CFG interval.
 */

const stems = fixtureStems(/^lightningdit_.*\.safetensors$/);

if (stems.length === 0) {
  test.skip(`no lightningdit_*.safetensors fixtures in ${FIXTURES_DIR}`, () => {});
}

for (const stem of stems) {
  describe(stem, () => {
    test('the model has exactly the official state-dict keys and shapes', async () => {
      const fx = await loadFixture(stem);
      const model = new LightningDiT(configFromOfficial(fx.sidecar.config));
      const official = stateDictOf(fx);
      const ours = model.stateDict();
      expect([...ours.keys()].sort()).toEqual([...official.keys()].sort());
      for (const [key, t] of ours) expect(t.shape, key).toEqual(official.get(key)!.shape);
      // Deterministic buffers are built, not loaded: they must equal the official ones.
      for (const key of ['pos_embed', 'feat_rope.freqs_cos', 'feat_rope.freqs_sin'].filter((k) => ours.has(k))) {
        expectClose(key, ours.get(key)!, official.get(key)!, 1e-6);
      }
    });

    for (const dtype of ['float32', 'float64'] as DType[]) {
      const suffix = dtype === 'float64' ? '_f64' : '';

      test(`${dtype}: forward, input gradient and loss`, async () => {
        const fx = await loadFixture(stem);
        const model = lightningDiTFrom(fx.sidecar, stateDictOf(fx), dtype);
        const x = leaf(fx.get('input.x'), dtype);
        const out = model.forward(x, as(fx.get('input.t'), dtype), fx.get('input.y'));
        const expected = fx.get(`expected.out${suffix}`);
        expectClose('out', out, expected, outputTolerance(expected, dtype));
        const loss = E.sum(E.mul(out, as(fx.get('input.R'), dtype)));
        loss.backward();
        const gradX = fx.get(`grad_input.x${suffix}`);
        expectClose('grad x', x.grad!, gradX, gradientTolerance(gradX, dtype));
        if (dtype === 'float32') expect(loss.itemSync()).toBeCloseTo(fx.get('expected.loss').itemSync(), 3);
      });
    }

    test('float32: the gradient of every trainable parameter', async () => {
      const fx = await loadFixture(stem);
      const model = lightningDiTFrom(fx.sidecar, stateDictOf(fx));
      const out = model.forward(fx.get('input.x'), fx.get('input.t'), fx.get('input.y'));
      E.sum(E.mul(out, fx.get('input.R'))).backward();
      const expected = fx.withPrefix('grad_param.');
      const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
      expect(trainable.map(([k]) => k).sort()).toEqual([...expected.keys()].sort());
      expect(expected.size).toBe(fx.sidecar.gradient_params_count);
      for (const [key, p] of trainable) expectClose(`grad ${key}`, p.grad!, expected.get(key)!, gradientTolerance(expected.get(key)!, 'float32'));
    });

    test('forward_with_cfg: 3-channel guidance, the CFG interval, and (non-official) all-channel guidance', async () => {
      const fx = await loadFixture(stem);
      const model = lightningDiTFrom(fx.sidecar, stateDictOf(fx));
      const x = fx.get('input.cfg_x');
      const y = fx.get('input.cfg_y');
      const t = (v: number) => E.full([x.shape[0]!], v);
      const cases = [
        ['expected.cfg_scale4', model.forwardWithCfg(x, t(0.5), y, 4)],
        ['expected.cfg_scale4_interval_t0.05', model.forwardWithCfg(x, t(0.05), y, 4, { intervalStart: 0.11 })],
        ['expected.cfg_scale4_interval_t0.5', model.forwardWithCfg(x, t(0.5), y, 4, { intervalStart: 0.11 })],
        ['expected.cfg_scale4_allchannels_NONOFFICIAL', model.forwardWithCfg(x, t(0.5), y, 4, { guidedChannels: 'all' })],
      ] as const;
      for (const [name, out] of cases) expectClose(name, out, fx.get(name), outputTolerance(fx.get(name), 'float32'));
    });
  });
}
