import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import type { LightningDiT } from '../../models/lightningdit/index.js';
import {
  type ClassConditionalModel,
  type GenerateOptions,
  RELEASED_TRANSPORT,
  generate,
  logitNormalTimesteps,
  odeint,
  timeGrid,
  trainingLosses,
} from '../../models/transport/index.js';
import { FIXTURES_DIR, type Fixture, expectClose, fixtureStems, gradientTolerance, leaf, lightningDiTFrom, loadFixture, maxAbs, outputTolerance, stateDictOf } from './fixtures.js';

/*
 * The transport against the official code, for every transport*.safetensors fixture: the training loss (t from
 * fixed normal draws, x_t, u, prediction, per-sample MSE and cosine terms, total, and the gradients of the input
 * and of every parameter), logit-normal t, the euler/heun2 samplers with and without guidance (time grid, the t
 * of every model call, the whole trajectory), and dopri5 against the float64 RK4 reference solution.
 */

const stems = fixtureStems(/^transport.*\.safetensors$/);

if (stems.length === 0) {
  test.skip(`no transport*.safetensors fixtures in ${FIXTURES_DIR}`, () => {});
}

/** The model the transport fixture was made with: its sidecar names the weights file ("<file> (set A), ..."). */
async function modelFixture(fx: Fixture): Promise<Fixture> {
  const file = String(fx.sidecar.model_weights).split(/\s/)[0]!;
  if (!file.endsWith('.safetensors')) throw new Error(`fixture ${fx.stem}: cannot read the model weights file from model_weights = ${fx.sidecar.model_weights}`);
  return loadFixture(file.slice(0, -'.safetensors'.length));
}

/** The model, reporting the t of every call (t[0], as the fixtures' model_eval_t). */
function recorded(model: LightningDiT, times: number[]): ClassConditionalModel {
  return {
    nullLabel: model.nullLabel,
    forward: (x, t, y) => (times.push(t.toArraySync()[0]!), model.forward(x, t, y)),
    forwardWithCfg: (x, t, y, scale, opts) => (times.push(t.toArraySync()[0]!), model.forwardWithCfg(x, t, y, scale, opts)),
  };
}

function rows(t: Tensor): Tensor[] {
  return Array.from({ length: t.shape[0]! }, (_, i) => E.reshape(E.narrow(t, 0, i, 1), t.shape.slice(1)));
}

for (const stem of stems) {
  describe(stem, () => {
    test('logit-normal t from the fixed normal draws', async () => {
      const fx = await loadFixture(stem);
      expectClose('t', logitNormalTimesteps(fx.get('lognorm.input.normal_draws')), fx.get('lognorm.expected.t'), 0);
      expectClose('train t', logitNormalTimesteps(fx.get('train.input.normal_draws')), fx.get('train.expected.t'), 0);
    });

    test('training loss: path, prediction, MSE and cosine terms, total, input and parameter gradients', async () => {
      const fx = await loadFixture(stem);
      const weights = await modelFixture(fx);
      const model = lightningDiTFrom(weights.sidecar, stateDictOf(weights));
      const x1 = leaf(fx.get('train.input.x1'), 'float32');
      const terms = trainingLosses((x, t, y) => model.forward(x, t, y), x1, fx.get('train.input.y'), RELEASED_TRANSPORT, {
        x0: fx.get('train.input.x0'),
        t: logitNormalTimesteps(fx.get('train.input.normal_draws')),
      });
      expectClose('t', terms.t, fx.get('train.expected.t'), 0);
      // x_t and u are single float32 operations per element, done in the official order: bit-exact.
      expectClose('xt', terms.xt, fx.get('train.expected.xt'), 0);
      expectClose('ut', terms.ut, fx.get('train.expected.ut'), 0);
      for (const [name, ours] of [['pred', terms.pred], ['mse_loss', terms.mse], ['cos_loss', terms.cos!]] as const) {
        const expected = fx.get(`train.expected.${name}`);
        expectClose(name, ours, expected, outputTolerance(expected, 'float32'));
      }
      expect(terms.loss.itemSync()).toBeCloseTo(fx.get('train.expected.total_loss').itemSync(), 4);
      terms.loss.backward();
      expectClose('grad x1', x1.grad!, fx.get('train.grad_input.x1'), gradientTolerance(fx.get('train.grad_input.x1'), 'float32'));
      const expected = fx.withPrefix('train.grad_param.');
      const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
      expect(trainable.map(([k]) => k).sort()).toEqual([...expected.keys()].sort());
      for (const [key, p] of trainable) expectClose(`grad ${key}`, p.grad!, expected.get(key)!, gradientTolerance(expected.get(key)!, 'float32'));
    });

    const runs: [string, Omit<GenerateOptions, 'method'> & { method: 'euler' | 'heun2' }, string][] = [
      ['euler', { method: 'euler', numSteps: 10, shift: 0.3, cfgScale: 2, intervalStart: 0.11 }, 'y_cond'],
      ['heun2', { method: 'heun2', numSteps: 5, shift: 0.3, cfgScale: 2, intervalStart: 0.11 }, 'y_cond'],
      ['euler_plain', { method: 'euler', numSteps: 10, shift: 0, cfgScale: 1 }, 'y_cond'],
    ];
    for (const [run, opts, labels] of runs) {
      test(`sampler '${run}': time grid, model call times, trajectory and samples`, async () => {
        const fx = await loadFixture(stem);
        const weights = await modelFixture(fx);
        const model = lightningDiTFrom(weights.sidecar, stateDictOf(weights));
        const expected = (name: string) => fx.get(`sample.${run}.expected.${name}`);
        expect(timeGrid(opts.numSteps, opts.shift, 'float32')).toEqual(Array.from(expected('time_grid').toArraySync()));
        const times: number[] = [];
        const { samples, trajectory } = generate(recorded(model, times), fx.get('sample.input.z'), fx.get(`sample.input.${labels}`), opts);
        expect(times).toEqual(Array.from(expected('model_eval_t').toArraySync()));
        const reference = rows(expected('trajectory'));
        expect(trajectory).toHaveLength(reference.length);
        trajectory.forEach((state, i) => expectClose(`trajectory[${i}]`, state, reference[i]!, outputTolerance(reference[i]!, 'float32')));
        expectClose('samples', samples, expected('samples'), outputTolerance(expected('samples'), 'float32'));
      });
    }

    /**
     * dopri5 (the official `sample_ode` default) at the released tolerances against the float64 RK4 reference:
     * its global error stays within 10× the tolerance scale atol + rtol·max|y| at every output time (and, with
     * guidance, far below the 9-step Euler error on the same grid). The guided field jumps at the CFG-interval start, so that case passes the
     * start as a jump location (without one, torchdiffeq's dopri5 is about 15× off there).
     */
    const tolerances = { atol: 1e-6, rtol: 1e-3 };
    for (const reference of ['plain', 'cfg_interval'] as const) {
      test(`dopri5 (float64) reaches the RK4 reference: ${reference}`, async () => {
        const fx = await loadFixture(stem);
        const weights = await modelFixture(fx);
        const model = lightningDiTFrom(weights.sidecar, stateDictOf(weights), 'float64');
        const z = E.cast(fx.get('sample.input.z'), 'float64');
        const guided = reference === 'cfg_interval';
        const y = fx.get(guided ? 'sample.input.y_full' : 'sample.input.y_cond');
        const field = (t: number, x: Tensor) => {
          const tt = E.full([x.shape[0]!], t, { dtype: 'float64' });
          return guided ? model.forwardWithCfg(x, tt, y, 2, { intervalStart: 0.11 }) : model.forward(x, tt, y);
        };
        const grid = Array.from(fx.get(`reference_rk4.${reference}.time_grid`).toArraySync());
        const trajectory = odeint(field, guided ? E.cat([z, z], 0) : z, grid, { method: 'dopri5', ...tolerances, jumpLocations: guided ? [0.11] : [] });
        const exact = rows(fx.get(`reference_rk4.${reference}.expected.trajectory`));
        const scale = tolerances.atol + tolerances.rtol * Math.max(...exact.map((s) => maxAbs(s.toArraySync())));
        trajectory.forEach((state, i) => expectClose(`dopri5 at t = ${grid[i]}`, state, exact[i]!, 10 * scale));
        if (guided) {
          // The guided Euler run has the same (shifted) grid: its final error is the 9-step discretisation error.
          const euler = rows(fx.get('sample.euler.expected.trajectory'));
          const eulerError = maxAbs(E.sub(E.cast(euler[euler.length - 1]!, 'float64'), exact[exact.length - 1]!).toArraySync());
          const dopriError = maxAbs(E.sub(trajectory[trajectory.length - 1]!, exact[exact.length - 1]!).toArraySync());
          expect(dopriError).toBeLessThan(eulerError / 10);
        }
      });
    }
  });
}
