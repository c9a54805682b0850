import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { DType, Tensor } from '../../engine/index.js';
import {
  AutoencoderKL,
  DiagonalGaussianDistribution,
  adaptiveWeight,
  autoencoderConfigFromOfficial,
  marginalCosineLoss,
  marginalDistanceMatrixLoss,
  vfLoss,
} from '../../models/vavae/index.js';
import { FIXTURES_DIR, type Fixture, as, expectClose, fixtureStems, gradientTolerance, leaf, loadFixture, outputTolerance } from './fixtures.js';

/*
 * VA-VAE against the official PyTorch code, for every vavae_*.safetensors and vfloss*.safetensors fixture:
 *   vavae_*: state-dict keys and shapes, posterior mean/logvar, decoded mode, KL, d(sum(decoded·R))/dx and the
 *            parameter gradients, d(Σ KL)/dx, in float32 and (against the *_f64 tensors) float64; the
 *            DiagonalGaussianDistribution clamp cases (dgd.*) where present.
 *   vfloss*: L_mcos, L_mdms, L_vf and their gradients in z and in linear_proj.weight, with and without margins,
 *            and the adaptive VF weight on the fixture's synthetic graph, in float32 and float64.
 * The fixtures store float32 results for the posterior, KL and VF quantities; float64 runs are judged against
 * them with the float32 tolerance (their own error is far below it), and against *_f64 with 1e-10 where stored.
 */

const DTYPES: DType[] = ['float32', 'float64'];
const vaeStems = fixtureStems(/^vavae_.*\.safetensors$/);
const vfStems = fixtureStems(/^vfloss.*\.safetensors$/);

if (vaeStems.length + vfStems.length === 0) {
  test.skip(`no vavae_*/vfloss* fixtures in ${FIXTURES_DIR}`, () => {});
}

/** The weights of a VAE fixture: every tensor without an input/expected/gradient/sub-fixture prefix. */
function weightsOf(fx: Fixture): Map<string, Tensor> {
  return new Map([...fx.tensors].filter(([k]) => !/^(input|expected|grad_input|grad_param|dgd)\./.test(k)));
}

function autoencoderFrom(fx: Fixture, dtype: DType): AutoencoderKL {
  const { ddconfig, embed_dim } = fx.sidecar;
  if (!ddconfig || typeof embed_dim !== 'number') throw new Error(`fixture ${fx.stem}: the sidecar has no ddconfig/embed_dim, so the model cannot be built`);
  const model = new AutoencoderKL(autoencoderConfigFromOfficial(ddconfig, embed_dim)).eval();
  model.loadStateDict(weightsOf(fx));
  return dtype === 'float32' ? model : model.to(dtype);
}

/** float32 results judged with the README's float32 tolerance, whatever dtype produced `actual`. */
function expectCloseF32(what: string, actual: Tensor, expected: Tensor): void {
  expectClose(what, actual, expected, outputTolerance(expected, 'float32'));
}

for (const stem of vaeStems) {
  describe(stem, () => {
    test('the model has exactly the official state-dict keys and shapes', async () => {
      const fx = await loadFixture(stem);
      const model = autoencoderFrom(fx, 'float32');
      const official = weightsOf(fx);
      const ours = model.stateDict();
      expect([...ours.keys()].sort()).toEqual([...official.keys()].sort());
      for (const [key, t] of ours) expect(t.shape, key).toEqual(official.get(key)!.shape);
      expect(model.numParameters()).toBe(fx.sidecar.n_params);
    });

    for (const dtype of DTYPES) {
      const suffix = dtype === 'float64' ? '_f64' : '';

      test(`${dtype}: posterior, decoded mode, KL and the input gradient`, async () => {
        const fx = await loadFixture(stem);
        const model = autoencoderFrom(fx, dtype);
        const x = leaf(fx.get('input.x'), dtype);
        const posterior = model.encode(x);
        expectCloseF32('posterior mean', posterior.mean, fx.get('expected.posterior_mean'));
        expectCloseF32('posterior logvar', posterior.logvar, fx.get('expected.posterior_logvar'));
        expectCloseF32('kl', posterior.kl(), fx.get('expected.kl'));
        const decoded = model.decode(posterior.mode());
        const expectedDecoded = fx.get(`expected.decoded${suffix}`);
        expectClose('decoded', decoded, expectedDecoded, outputTolerance(expectedDecoded, dtype));

        const loss = E.sum(E.mul(decoded, as(fx.get('input.R'), dtype)));
        const expectedLoss = fx.get('expected.loss').itemSync();
        expect(Math.abs(loss.itemSync() - expectedLoss), 'loss').toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expectedLoss)));
        const [gradX] = E.grad(loss, [x]);
        const expectedGradX = fx.get(`grad_input.x${suffix}`);
        expectClose('grad x', gradX!, expectedGradX, gradientTolerance(expectedGradX, dtype));

        const [gradKl] = E.grad(E.sum(model.encode(x).kl()), [x]);
        const expectedGradKl = fx.get('grad_input.x_klsum');
        expectClose('grad x of Σ KL', gradKl!, expectedGradKl, gradientTolerance(expectedGradKl, 'float32'));
      });
    }

    test('float32: the gradients of the parameters the fixture lists', async () => {
      const fx = await loadFixture(stem);
      const model = autoencoderFrom(fx, 'float32');
      const decoded = model.decode(model.encode(fx.get('input.x')).mode());
      E.sum(E.mul(decoded, fx.get('input.R'))).backward();
      const expected = fx.withPrefix('grad_param.');
      expect(expected.size).toBe(fx.sidecar.gradient_params_count);
      const params = new Map(model.namedParameters());
      if (!String(fx.sidecar.gradient_params_note).includes('SUBSET')) expect([...params.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, g] of expected) {
        const p = params.get(key);
        if (!p) expect.fail(`grad_param.${key}: the model has no parameter '${key}'`);
        expectClose(`grad ${key}`, p.grad!, g, gradientTolerance(g, 'float32'));
      }
    });

    test('DiagonalGaussianDistribution on moments beyond the logvar clamp (dgd.*, float64)', async () => {
      const fx = await loadFixture(stem);
      if (!fx.has('dgd.input.moments')) {
        expect(fx.sidecar.calls?.dgd ?? '', 'a fixture without dgd.* tensors must say so').toMatch(/not in this file/);
        return;
      }
      const moments = leaf(fx.get('dgd.input.moments'), 'float64');
      const d = new DiagonalGaussianDistribution(moments);
      for (const name of ['mean', 'logvar', 'std', 'var'] as const) expectClose(`dgd ${name}`, d[name], fx.get(`dgd.expected.${name}`), 1e-12);
      expectClose('dgd kl', d.kl(), fx.get('dgd.expected.kl'), 1e-12 * Math.max(1, Math.abs(fx.get('dgd.expected.kl').itemSync())));
      const [g] = E.grad(E.sum(d.kl()), [moments]);
      expectClose('dgd d(Σ KL)/d moments', g!, fx.get('dgd.grad_input.moments_klsum'), 1e-12);
    });
  });
}

const VF_CASES = { margin: { cosMargin: 0.5, distmatMargin: 0.25 }, nomargin: { cosMargin: 0, distmatMargin: 0 } } as const;

for (const stem of vfStems) {
  describe(stem, () => {
    for (const dtype of DTYPES) {
      test(`${dtype}: L_mcos, L_mdms, L_vf and their gradients in z and linear_proj.weight`, async () => {
        const fx = await loadFixture(stem);
        for (const [name, margins] of Object.entries(VF_CASES)) {
          const losses = {
            mcos: (zp: Tensor, f: Tensor) => marginalCosineLoss(zp, f, margins.cosMargin),
            mdms: (zp: Tensor, f: Tensor) => marginalDistanceMatrixLoss(zp, f, margins.distmatMargin),
            vf: (zp: Tensor, f: Tensor) => vfLoss(zp, f, margins),
          };
          for (const [which, loss] of Object.entries(losses)) {
            const z = leaf(fx.get('input.z'), dtype);
            const w = leaf(fx.get('linear_proj.weight'), dtype);
            const value = loss(E.conv2d(z, w), as(fx.get('input.f'), dtype));
            const expected = fx.get(`expected.${name}.${which}`).itemSync();
            expect(Math.abs(value.itemSync() - expected), `${name} ${which}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected)));
            const [gz, gw] = E.grad(value, [z, w]);
            const expectedGz = fx.get(`grad_input.z.${name}.${which}`);
            const expectedGw = fx.get(`grad_param.linear_proj.weight.${name}.${which}`);
            expectClose(`${name} ${which} d/dz`, gz!, expectedGz, gradientTolerance(expectedGz, 'float32'));
            expectClose(`${name} ${which} d/dW`, gw!, expectedGw, gradientTolerance(expectedGw, 'float32'));
          }
        }
      });

      test(`${dtype}: the adaptive VF weight (gradient norms at the last layer, clamp, ×vf_weight)`, async () => {
        const fx = await loadFixture(stem);
        const lastLayer = leaf(fx.get('adaptive.last_layer.weight'), dtype);
        const input = (name: string) => as(fx.get(`adaptive.input.${name}`), dtype);
        const moments = E.conv2d(input('h'), lastLayer, as(fx.get('adaptive.last_layer.bias'), dtype), { padding: 1 });
        const zs = new DiagonalGaussianDistribution(moments).sample(input('eps'));
        const nll = E.div(E.sum(E.abs(E.sub(input('target'), zs))), zs.shape[0]!);
        const vf = vfLoss(E.conv2d(zs, as(fx.get('linear_proj.weight'), dtype)), as(fx.get('input.f'), dtype), VF_CASES.margin);
        const scalarClose = (what: string, actual: number) => {
          const expected = fx.get(`adaptive.expected.${what}`).itemSync();
          expect(Math.abs(actual - expected), what).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected)));
        };
        scalarClose('nll_loss', nll.itemSync());
        scalarClose('vf_loss', vf.itemSync());
        const [gradNll, gradVf] = [E.grad(nll, [lastLayer], undefined, { retainGraph: true })[0]!, E.grad(vf, [lastLayer], undefined, { retainGraph: true })[0]!];
        expectClose('grad nll', gradNll, fx.get('adaptive.expected.grad_nll'), gradientTolerance(fx.get('adaptive.expected.grad_nll'), 'float32'));
        expectClose('grad vf', gradVf, fx.get('adaptive.expected.grad_vf'), gradientTolerance(fx.get('adaptive.expected.grad_vf'), 'float32'));
        const norm = (g: Tensor) => Math.sqrt(E.sum(E.mul(g, g)).itemSync());
        scalarClose('norm_grad_nll', norm(gradNll));
        scalarClose('norm_grad_vf', norm(gradVf));
        const unscaled = adaptiveWeight(nll, vf, lastLayer, 1e8);
        expect(unscaled.requiresGrad, 'the adaptive weight is detached').toBe(false);
        scalarClose('weight_unscaled', unscaled.itemSync());
        scalarClose('vf_weight', E.mul(unscaled, 0.1).itemSync());
      });
    }
  });
}
