import { EngineError } from '../engine/errors.js';
import { symmetricEigen } from './linalg.js';

/*
 * Exact t-SNE (van der Maaten & Hinton, 2008) to two dimensions, following scikit-learn's `TSNE` (≥ 1.2) with the
 * arguments LightningDiT's `tools/latent_vis.py` passes (perplexity 30, 1000 iterations) and its defaults
 * otherwise: PCA initialisation scaled to a standard deviation of 10⁻⁴, learning rate 'auto' = max(N / 12 / 4, 50),
 * early exaggeration 12 with momentum 0.5 for the first 250 iterations, then momentum 0.8, delta-bar-delta gains
 * (+0.2 / ×0.8, at least 0.01), stopping after 300 checks-worth of iterations without progress or a gradient
 * norm ≤ 10⁻⁷ (checked every 50 iterations).
 *
 * Differences from scikit-learn, which the defaults of `latent_vis.py` would use: the O(N²) exact gradient instead
 * of Barnes–Hut (identical objective, no approximation; fine for N up to a few thousand), and float64 throughout
 * where scikit-learn rounds the distances and the embedding to float32.
 */

export interface TsneOptions {
  perplexity?: number;
  earlyExaggeration?: number;
  /** 'auto' (scikit-learn's default) or a number. */
  learningRate?: number | 'auto';
  maxIter?: number;
  nIterWithoutProgress?: number;
  minGradNorm?: number;
}

export interface TsneResult {
  /** N×2, row-major. */
  embedding: Float64Array;
  /** KL(P‖Q) at the last check. */
  klDivergence: number;
  /** Iterations run. */
  iterations: number;
}

/** The smallest probability kept (numpy's float64 machine epsilon, as scikit-learn uses). */
const MACHINE_EPSILON = 2.220446049250313e-16;
const EXPLORATION_ITERATIONS = 250;
const CHECK_EVERY = 50;

/** Position of pair (i, j), i < j, in a condensed (upper-triangle, row by row) array. */
function pairIndex(i: number, j: number, n: number): number {
  return i * n - (i * (i + 1)) / 2 + (j - i - 1);
}

/**
 * The Gaussian conditional p(j|i) ∝ exp(−β·d²ᵢⱼ) over j ≠ i whose entropy is log(perplexity), by bisection on the
 * precision β (scikit-learn's `_binary_search_perplexity`: β starts at 1, at most 100 steps, tolerance 10⁻⁵
 * nats). `squaredDistances` is row i of the squared distances; the result is written to `p` (p[i] = 0).
 */
export function conditionalProbabilities(squaredDistances: Float64Array, i: number, perplexity: number, p: Float64Array): void {
  const n = squaredDistances.length;
  const targetEntropy = Math.log(perplexity);
  let beta = 1;
  let betaMin = -Infinity;
  let betaMax = Infinity;
  for (let step = 0; step < 100; step++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += p[j] = j === i ? 0 : Math.exp(-squaredDistances[j]! * beta);
    if (sum === 0) sum = 1e-8;
    let meanDistance = 0;
    for (let j = 0; j < n; j++) meanDistance += squaredDistances[j]! * (p[j] = p[j]! / sum);
    const excess = Math.log(sum) + beta * meanDistance - targetEntropy;
    if (Math.abs(excess) <= 1e-5) return;
    // Too much entropy: the kernel is too wide, so raise the precision β (and the reverse).
    if (excess > 0) {
      betaMin = beta;
      beta = betaMax === Infinity ? beta * 2 : (beta + betaMax) / 2;
    } else {
      betaMax = beta;
      beta = betaMin === -Infinity ? beta / 2 : (beta + betaMin) / 2;
    }
  }
}

/**
 * The joint probabilities P = (p(j|i) + p(i|j)) / Σ of the points (N×dim, row-major), condensed, each at least
 * MACHINE_EPSILON (scikit-learn's `_joint_probabilities`); the condensed entries sum to ½.
 */
export function jointProbabilities(data: ArrayLike<number>, n: number, dim: number, perplexity: number): Float64Array {
  const joint = new Float64Array((n * (n - 1)) / 2);
  const distances = new Float64Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += (data[i * dim + k]! - data[j * dim + k]!) ** 2;
      distances[j] = s;
    }
    conditionalProbabilities(distances, i, perplexity, p);
    for (let j = 0; j < n; j++) {
      if (j !== i) joint[j > i ? pairIndex(i, j, n) : pairIndex(j, i, n)] += p[j]!;
    }
  }
  // The condensed sum counts each pair once; the full symmetric matrix sums to twice that.
  const total = Math.max(2 * joint.reduce((a, b) => a + b, 0), MACHINE_EPSILON);
  for (let k = 0; k < joint.length; k++) joint[k] = Math.max(joint[k]! / total, MACHINE_EPSILON);
  return joint;
}

/**
 * scikit-learn's 'pca' initialisation: the data centred and projected on its two leading principal axes (signs
 * chosen so that each axis's largest component is positive), then scaled so the first coordinate has standard
 * deviation 10⁻⁴.
 */
export function pcaInitialisation(data: ArrayLike<number>, n: number, dim: number): Float64Array {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) mean[k] = mean[k]! + data[i * dim + k]! / n;
  const scatter = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < dim; a++) {
      const xa = data[i * dim + a]! - mean[a]!;
      for (let b = 0; b <= a; b++) scatter[a * dim + b] = scatter[a * dim + b]! + xa * (data[i * dim + b]! - mean[b]!);
    }
  }
  const { vectors } = symmetricEigen(scatter, dim);
  const axes = [dim - 1, dim - 2].map((row) => {
    const axis = vectors!.slice(row * dim, row * dim + dim);
    const largest = axis.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
    return largest < 0 ? axis.map((v) => -v) : axis;
  });
  const embedding = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += (data[i * dim + k]! - mean[k]!) * axes[c]![k]!;
      embedding[i * 2 + c] = s;
    }
  }
  let first = 0;
  let firstSquares = 0;
  for (let i = 0; i < n; i++) first += embedding[i * 2]! / n;
  for (let i = 0; i < n; i++) firstSquares += (embedding[i * 2]! - first) ** 2 / n;
  const scale = 1e-4 / Math.sqrt(firstSquares);
  return embedding.map((v) => v * scale);
}

/**
 * The KL divergence KL(P‖Q) of the embedding `y` (N×2) and its gradient, with Student-t similarities
 * wᵢⱼ = 1 / (1 + ‖yᵢ − yⱼ‖²), Q = w / Σw: ∂KL/∂yᵢ = 4·Σⱼ (pᵢⱼ − qᵢⱼ)·wᵢⱼ·(yᵢ − yⱼ). `weights` is scratch space
 * for the condensed w. P and Q are condensed and each sum to ½ (the full matrices sum to 1).
 */
export function klGradient(joint: Float64Array, y: Float64Array, n: number, gradient: Float64Array, weights: Float64Array, withError: boolean): number {
  let total = 0;
  for (let i = 0, k = 0; i < n; i++) {
    const xi = y[2 * i]!;
    const yi = y[2 * i + 1]!;
    for (let j = i + 1; j < n; j++, k++) {
      const w = 1 / (1 + (xi - y[2 * j]!) ** 2 + (yi - y[2 * j + 1]!) ** 2);
      weights[k] = w;
      total += w;
    }
  }
  const normaliser = 2 * total;
  gradient.fill(0);
  let kl = 0;
  for (let i = 0, k = 0; i < n; i++) {
    const xi = y[2 * i]!;
    const yi = y[2 * i + 1]!;
    let gx = 0;
    let gy = 0;
    for (let j = i + 1; j < n; j++, k++) {
      const w = weights[k]!;
      const q = Math.max(w / normaliser, MACHINE_EPSILON);
      const pij = joint[k]!;
      if (withError) kl += pij * Math.log(Math.max(pij, MACHINE_EPSILON) / q);
      const f = 4 * (pij - q) * w;
      const fx = f * (xi - y[2 * j]!);
      const fy = f * (yi - y[2 * j + 1]!);
      gx += fx;
      gy += fy;
      gradient[2 * j] = gradient[2 * j]! - fx;
      gradient[2 * j + 1] = gradient[2 * j + 1]! - fy;
    }
    gradient[2 * i] = gradient[2 * i]! + gx;
    gradient[2 * i + 1] = gradient[2 * i + 1]! + gy;
  }
  return 2 * kl;
}

export function tsne(data: ArrayLike<number>, n: number, dim: number, options: TsneOptions = {}): TsneResult {
  const {
    perplexity = 30,
    earlyExaggeration = 12,
    learningRate = 'auto',
    maxIter = 1000,
    nIterWithoutProgress = 300,
    minGradNorm = 1e-7,
  } = options;
  if (data.length !== n * dim) throw new EngineError(`tsne: ${data.length} numbers are not ${n} points of dimension ${dim}`);
  if (!(perplexity < n)) throw new EngineError(`tsne: perplexity (${perplexity}) must be less than the number of points (${n})`);
  if (maxIter < EXPLORATION_ITERATIONS) throw new EngineError(`tsne: maxIter must be at least ${EXPLORATION_ITERATIONS}, got ${maxIter}`);
  const rate = learningRate === 'auto' ? Math.max(n / earlyExaggeration / 4, 50) : learningRate;

  const joint = jointProbabilities(data, n, dim, perplexity);
  const y = pcaInitialisation(data, n, dim);
  const gradient = new Float64Array(2 * n);
  const weights = new Float64Array(joint.length);
  let klDivergence = NaN;

  /** scikit-learn's `_gradient_descent` over iterations [start, end); returns the last iteration run. */
  const descend = (start: number, end: number, momentum: number, patience: number): number => {
    const update = new Float64Array(2 * n);
    const gains = new Float64Array(2 * n).fill(1);
    let bestError = Infinity;
    let bestIteration = start;
    let i = start;
    for (; i < end; i++) {
      const check = (i + 1) % CHECK_EVERY === 0;
      const error = klGradient(joint, y, n, gradient, weights, check || i === end - 1);
      let squaredNorm = 0;
      for (let k = 0; k < 2 * n; k++) {
        // Gains grow where the gradient turned against the last step and shrink where it agrees.
        const gain = update[k]! * gradient[k]! < 0 ? gains[k]! + 0.2 : gains[k]! * 0.8;
        gains[k] = Math.max(gain, 0.01);
        const g = gradient[k]! * gains[k]!;
        squaredNorm += g * g;
        update[k] = momentum * update[k]! - rate * g;
        y[k] = y[k]! + update[k]!;
      }
      if (check || i === end - 1) klDivergence = error;
      if (check) {
        if (error < bestError) {
          bestError = error;
          bestIteration = i;
        } else if (i - bestIteration > patience) {
          break;
        }
        if (Math.sqrt(squaredNorm) <= minGradNorm) break;
      }
    }
    return Math.min(i, end - 1);
  };

  for (let k = 0; k < joint.length; k++) joint[k] = joint[k]! * earlyExaggeration;
  const explored = descend(0, EXPLORATION_ITERATIONS, 0.5, EXPLORATION_ITERATIONS);
  for (let k = 0; k < joint.length; k++) joint[k] = joint[k]! / earlyExaggeration;
  const last = descend(explored + 1, maxIter, 0.8, nIterWithoutProgress);
  return { embedding: y, klDivergence, iterations: last + 1 };
}
