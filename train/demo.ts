/**
 * A demonstration of the engine until the training pipeline lands: fit a two-layer MLP to a two-spiral
 * classification problem with plain gradient descent, then gradient-check the same model in float64.
 * Run: npm run demo
 */
import * as E from '../engine/index.js';

E.manualSeed(0);

function spirals(n: number): { x: E.Tensor; y: E.Tensor } {
  const points: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    const r = (i / n) * 3 + 0.3;
    const angle = r * 2.2 + cls * Math.PI;
    points.push(r * Math.cos(angle), r * Math.sin(angle));
    labels.push(cls);
  }
  return { x: E.fromArray(points, [n, 2]), y: E.fromArray(labels, [n], { dtype: 'int32' }) };
}

function init(shape: number[], fanIn: number, dtype: E.DType = 'float32'): E.Tensor {
  return E.mul(E.randn(shape, { dtype }), Math.sqrt(2 / fanIn)).detach().requiresGrad_();
}

function mlp(params: E.Tensor[], x: E.Tensor): E.Tensor {
  const [w1, b1, w2, b2, w3, b3] = params as [E.Tensor, E.Tensor, E.Tensor, E.Tensor, E.Tensor, E.Tensor];
  const h1 = E.tanh(E.linear(x, w1, b1));
  const h2 = E.tanh(E.linear(h1, w2, b2));
  return E.linear(h2, w3, b3);
}

const hidden = 32;
const params = [init([hidden, 2], 2), init([hidden], 1), init([hidden, hidden], hidden), init([hidden], 1), init([2, hidden], hidden), init([2], 1)];
const { x, y } = spirals(256);
const lr = 0.5;
const steps = 600;
const start = performance.now();
for (let step = 0; step <= steps; step++) {
  const loss = E.scope(() => {
    const l = E.crossEntropy(mlp(params, x), y);
    const grads = E.grad(l, params);
    E.noGrad(() => params.forEach((p, i) => {
      const updated = E.sub(p, E.mul(grads[i]!, lr));
      params[i] = updated.detach().requiresGrad_();
      params[i]!.persistent = true;
    }));
    return l.itemSync();
  });
  if (step % 100 === 0) {
    const acc = E.scope(() => E.noGrad(() => E.mean(E.eq(E.argmax(mlp(params, x), 1), y).to('float32')).itemSync()));
    console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(4)}  train accuracy ${(acc * 100).toFixed(1)}%`);
  }
}
console.log(`trained in ${((performance.now() - start) / 1000).toFixed(1)} s on the ${E.getBackend().name} backend`);

// The same model in float64, on a few points: every Jacobian entry against central differences.
const small = spirals(4);
const params64 = params.map((p) => p.detach().to('float64'));
const report = E.gradcheck((w1, ...rest) => E.crossEntropy(mlp([w1!, ...rest], small.x.to('float64')), small.y), params64, { name: 'mlp+cross_entropy' });
console.log(`gradcheck of the model in float64: ${report.verdict} (${report.checked} Jacobian entries)`);
if (report.verdict !== 'pass') {
  console.log(report.toString());
  process.exitCode = 1;
}
