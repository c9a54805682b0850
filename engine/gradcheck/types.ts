import type { DType } from '../dtype.js';
import { EngineError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/**
 * The vocabulary of gradient checking (../shared/spec/gradcheck.md §7): options, verdicts and the report that
 * every check returns. A verdict is never a plain boolean: an oracle too noisy to judge, or a kink, is
 * "inconclusive", which callers must treat as "not a pass".
 */

export type Verdict = 'pass' | 'fail' | 'inconclusive';
export type EntryStatus = 'ok' | 'fail' | 'inconclusive';
export type Fn = (...xs: Tensor[]) => Tensor | Tensor[];

/** full: every Jacobian entry. projected: ⟨v, J u⟩ for K random sign vectors. auto: full while N·M ≤ 16384. */
export type Mode = 'full' | 'projected' | 'auto';
/** How the numerical derivative is taken: central differences, Ridders' extrapolation, or a Taylor-rate test. */
export type Scheme = 'central' | 'richardson' | 'taylor';
/** Output weights where a check needs one (gradgradcheck, taylor on non-scalar outputs): seeded dyadic values, ones, or given. */
export type Cotangent = 'random-dyadic' | 'ones' | readonly Tensor[];

export interface GradcheckOptions {
  /** Indices of the inputs to check (default: every float input). */
  wrt?: number[];
  mode?: Mode;
  /** K, the number of random projections in projected mode (default 4). */
  projections?: number;
  scheme?: Scheme;
  /** Fixed FD step, or 'auto' for the power of two nearest cbrt(ε)·max(1,|x|). */
  eps?: 'auto' | number;
  atol?: number;
  rtol?: number;
  /** Seed of the random directions and cotangents (reported, so a failure replays). */
  seed?: number;
  cotangent?: Cotangent;
  /** How many of the worst entries the report lists (default 10). */
  topK?: number;
  /** Name used in the report (e.g. the op). */
  name?: string;
  /** Names of the inputs in the report (default x0, x1, …). */
  inputNames?: string[];
}

/** One Jacobian entry J[output(outIndex) ← input(inIndex)]. */
export interface EntryReport {
  input: number;
  output: number;
  inIndex: number[];
  outIndex: number[];
  analytical: number;
  numerical: number;
  /** The bound that applied: atol·max(1,|y|) + rtol·max(|a|,|n|) + 4·noise. */
  tol: number;
  /** |a − n| / tol. */
  ratio: number;
  /** FD error estimate: |D_h − D_2h| (central) or Ridders' estimate. */
  noise: number;
  step: number;
  status: EntryStatus;
  kink: boolean;
  /** At a kink: the one-sided slopes (forward, backward) at step h. */
  slopes?: [number, number];
}

/** Counts for one (input, output) pair. */
export interface PairReport {
  input: number;
  output: number;
  inShape: number[];
  outShape: number[];
  checked: number;
  failed: number;
  inconclusive: number;
}

/** A projected comparison ⟨v, J u⟩ over a block of the Jacobian (all of it, one pair, or part of one). */
export interface ProjectionReport {
  /** Which random direction pair (u_k, v_k). */
  direction: number;
  /** Restriction to one input / output (undefined: all of them). */
  input?: number;
  output?: number;
  analytical: number;
  numerical: number;
  tol: number;
  ratio: number;
  noise: number;
  step: number;
  status: EntryStatus;
  kink: boolean;
}

/** Where a projected failure comes from, found automatically: failing pairs, then full mode on small enough blocks. */
export interface Localisation {
  direction: number;
  pairs: ProjectionReport[];
  /** Blocks rerun in full mode: input columns [lo, hi) × output rows [lo, hi). */
  blocks: { input: number; output: number; columns: [number, number]; rows: [number, number]; checked: number; failed: number; inconclusive: number }[];
  /** Failing and inconclusive entries of those blocks, worst first. */
  entries: EntryReport[];
  notes: string[];
}

/** The Taylor remainder r(ε) = |L(x+εu) − L(x) − ε⟨∇L, u⟩| at ε = 2^-7 … 2^-11, and the rates log2(r_i / r_{i+1}). */
export interface TaylorReport {
  eps: number[];
  residuals: number[];
  rates: (number | null)[];
  /** Residuals below this are round-off, so the rates next to them are not used. */
  floor: number;
  directionalDerivative: number;
}

export interface InputInfo {
  name: string;
  shape: number[];
  dtype: DType;
  /** Exact float64 bits of every element, '0x…' comma-separated. */
  hex: string;
}

/** Plain data, as `JSON.stringify(report)` writes it. */
export interface GradcheckReportData {
  verdict: Verdict;
  name: string;
  /** Where the analytical side ran, e.g. 'cpu-f64', 'cpu-f32'. The numerical oracle is always cpu-f64. */
  backend: string;
  dtype: DType;
  mode: 'full' | 'projected';
  scheme: Scheme;
  checked: number;
  failed: number;
  inconclusive: number;
  /** Indices of the checked inputs. */
  wrt: number[];
  /** Shapes of the float outputs, by output number (integer outputs have no derivative and are skipped). */
  outputs: { output: number; shape: number[] }[];
  pairs: PairReport[];
  /** Failing and inconclusive entries, worst first; for a pass, the entries closest to their bound. */
  worst: EntryReport[];
  maxRatio: number;
  projections?: ProjectionReport[];
  localisation?: Localisation;
  taylor?: TaylorReport;
  hints: string[];
  atol: number;
  rtol: number;
  seed: number;
  inputs: InputInfo[];
}

export interface GradcheckReport extends GradcheckReportData {
  toString(): string;
  toJSON(): GradcheckReportData;
}

export class GradcheckError extends EngineError {
  override name = 'GradcheckError';
  constructor(readonly report: GradcheckReport) {
    super(report.toString());
  }
}
