import { EngineError } from '../engine/errors.js';

/*
 * Dense float64 linear algebra for the metrics: the symmetric eigenproblem and products of square matrices.
 * Matrices are row-major Float64Arrays of n·n numbers. The matrices here are covariances of features (n up to
 * 2048), so everything is O(n³) with loops that walk rows contiguously.
 */

export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** Row j is the unit eigenvector of values[j] (so this is Vᵀ for A = V·diag(values)·Vᵀ); absent when not asked for. */
  vectors?: Float64Array;
}

/**
 * Eigenvalues (and optionally eigenvectors) of the symmetric n×n matrix `a`: Householder reduction to a
 * tridiagonal matrix, then the QL algorithm with implicit Wilkinson shifts (as in EISPACK's tred2/tql2).
 * Only the lower triangle of `a` is read; `a` is not modified.
 */
export function symmetricEigen(a: Float64Array, n: number, { vectors = true } = {}): SymmetricEigen {
  if (a.length !== n * n) throw new EngineError(`symmetricEigen: expected ${n}×${n} = ${n * n} numbers, got ${a.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new EngineError(`symmetricEigen: the matrix holds ${a[i]} at row ${Math.floor(i / n)}, column ${i % n}`);
  }
  const work = Float64Array.from(a);
  const { diagonal, offDiagonal } = tridiagonalize(work, n);
  const rotated = vectors ? householderProduct(work, n) : undefined;
  tridiagonalQL(diagonal, offDiagonal, n, rotated);
  return sortAscending(diagonal, rotated, n);
}

/**
 * Householder reduction A = Q·T·Qᵀ, T tridiagonal. Step i (from n−1 down to 2) reflects coordinates 0…i−1 with
 * P = I − u·uᵀ/h, chosen so that P·A[i, 0…i−1] has a single non-zero entry, at i−1; then the leading i×i block
 * B becomes P·B·P = B − u·qᵀ − q·uᵀ with p = B·u/h and q = p − (uᵀp/2h)·u. Only the lower triangle of B is kept,
 * and both the product B·u and the update walk its rows (row j of the triangle holds B[j][k] = B[k][j], k ≤ j).
 *
 * On return, row i of `work` holds u of step i in its first i entries and `work[i·n + i]` holds h (0 where no
 * reflection was needed): `householderProduct` rebuilds Qᵀ from them.
 */
function tridiagonalize(work: Float64Array, n: number): { diagonal: Float64Array; offDiagonal: Float64Array } {
  const diagonal = new Float64Array(n);
  // offDiagonal[i] = T[i][i−1]; offDiagonal[0] is unused (0).
  const offDiagonal = new Float64Array(n);
  const p = new Float64Array(n);
  for (let i = n - 1; i >= 1; i--) {
    const row = i * n;
    const last = i - 1;
    diagonal[i] = work[row + i]!;
    let scale = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(work[row + k]!);
    if (i === 1 || scale === 0) {
      // Already tridiagonal in this row: nothing to annihilate.
      offDiagonal[i] = work[row + last]!;
      work[row + i] = 0;
      continue;
    }
    // Scaling first keeps the squared norm from overflowing or underflowing; P does not depend on it.
    let sigma = 0;
    for (let k = 0; k < i; k++) {
      const v = (work[row + k]! /= scale);
      sigma += v * v;
    }
    const f = work[row + last]!;
    const g = f >= 0 ? -Math.sqrt(sigma) : Math.sqrt(sigma);
    offDiagonal[i] = scale * g;
    const h = sigma - f * g;
    work[row + last] = f - g; // u = x/scale − g·e_last, and uᵀu = 2h
    work[row + i] = h;
    const u = work.subarray(row, row + i);

    // p = B·u from the lower triangle: row j contributes its dot with u to p[j], and u[j] times itself to p[0…j−1].
    p.fill(0, 0, i);
    for (let j = 0; j < i; j++) {
      const bj = j * n;
      const uj = u[j]!;
      let s = work[bj + j]! * uj;
      for (let k = 0; k < j; k++) {
        const b = work[bj + k]!;
        s += b * u[k]!;
        p[k] = p[k]! + b * uj;
      }
      p[j] = p[j]! + s;
    }
    let uDotP = 0;
    for (let j = 0; j < i; j++) uDotP += u[j]! * (p[j] = p[j]! / h);
    const half = uDotP / (2 * h);
    for (let j = 0; j < i; j++) p[j] = p[j]! - half * u[j]!; // now q
    for (let j = 0; j < i; j++) {
      const bj = j * n;
      const uj = u[j]!;
      const qj = p[j]!;
      for (let k = 0; k <= j; k++) work[bj + k] = work[bj + k]! - uj * p[k]! - qj * u[k]!;
    }
  }
  diagonal[0] = work[0]!;
  return { diagonal, offDiagonal };
}

/**
 * Qᵀ = P₂·P₃⋯P_{n−1} from the reflectors that `tridiagonalize` left in `work`. Multiplying from the right in
 * ascending order keeps the product equal to the identity outside its leading i×i block, so step i only touches
 * that block.
 */
function householderProduct(work: Float64Array, n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  for (let i = 2; i < n; i++) {
    const h = work[i * n + i]!;
    if (h === 0) continue;
    const u = work.subarray(i * n, i * n + i);
    for (let r = 0; r < i; r++) {
      const mr = r * n;
      let s = 0;
      for (let c = 0; c < i; c++) s += m[mr + c]! * u[c]!;
      s /= h;
      if (s === 0) continue;
      for (let c = 0; c < i; c++) m[mr + c] = m[mr + c]! - s * u[c]!;
    }
  }
  return m;
}

/**
 * Diagonalises the symmetric tridiagonal matrix (d on the diagonal, e[i] = T[i][i−1]) in place: on return d
 * holds its eigenvalues. Each sweep chases a bulge down from row m to row l with Givens rotations, shifted by the
 * eigenvalue of the leading 2×2 block nearer to d[l] (Wilkinson), which converges cubically. When `rows` is given
 * (Zᵀ, one vector per row), every rotation is applied to it, so its rows end as the eigenvectors.
 */
function tridiagonalQL(d: Float64Array, e: Float64Array, n: number, rows?: Float64Array): void {
  // Re-index the off-diagonal so that e[i] couples d[i] and d[i+1].
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  if (n > 0) e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    for (let iteration = 0; ; iteration++) {
      // The first negligible coupling at or after l splits off the block l…m.
      let m = l;
      while (m < n - 1 && Math.abs(e[m]!) > Number.EPSILON * (Math.abs(d[m]!) + Math.abs(d[m + 1]!))) m++;
      if (m === l) break;
      if (iteration === 60) throw new EngineError(`symmetricEigen: the QL iteration did not converge for eigenvalue ${l} of ${n}`);
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // The rotation underflowed: the block splits here; restart with the shift applied so far.
          d[i + 1] = d[i + 1]! - p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (rows) rotateRows(rows, n, i, c, s);
      }
      if (r === 0 && i >= l) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/** Rows i and i+1 of Zᵀ after the Givens rotation that acts on columns i and i+1 of Z. */
function rotateRows(rows: Float64Array, n: number, i: number, c: number, s: number): void {
  const a = i * n;
  const b = a + n;
  for (let k = 0; k < n; k++) {
    const x = rows[a + k]!;
    const y = rows[b + k]!;
    rows[b + k] = s * x + c * y;
    rows[a + k] = c * x - s * y;
  }
}

function sortAscending(values: Float64Array, rows: Float64Array | undefined, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => values[x]! - values[y]!);
  const sorted = Float64Array.from(order, (i) => values[i]!);
  if (!rows) return { values: sorted };
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => vectors.set(rows.subarray(from * n, from * n + n), to * n));
  return { values: sorted, vectors };
}

/**
 * C = A·B for A m×k and B k×n (row-major). Four rows of A at a time share each pass over a row of B, so every
 * load of B feeds four multiply-adds; rows of B and C are walked contiguously.
 */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  if (a.length !== m * k || b.length !== k * n) throw new EngineError(`matmul: sizes ${a.length} and ${b.length} do not fit ${m}×${k} · ${k}×${n}`);
  const c = new Float64Array(m * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const c0 = i * n;
    const c1 = c0 + n;
    const c2 = c1 + n;
    const c3 = c2 + n;
    for (let p = 0; p < k; p++) {
      const a0 = a[i * k + p]!;
      const a1 = a[(i + 1) * k + p]!;
      const a2 = a[(i + 2) * k + p]!;
      const a3 = a[(i + 3) * k + p]!;
      const bp = p * n;
      for (let j = 0; j < n; j++) {
        const bpj = b[bp + j]!;
        c[c0 + j] = c[c0 + j]! + a0 * bpj;
        c[c1 + j] = c[c1 + j]! + a1 * bpj;
        c[c2 + j] = c[c2 + j]! + a2 * bpj;
        c[c3 + j] = c[c3 + j]! + a3 * bpj;
      }
    }
  }
  for (; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] = c[ci + j]! + aip * b[bp + j]!;
    }
  }
  return c;
}

/**
 * The lower-triangular L with A = L·Lᵀ for a symmetric positive definite n×n matrix A (row-major; only the lower
 * triangle is read). Throws when A is not positive definite.
 */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new EngineError(`cholesky: the matrix is not positive definite (pivot ${i} is ${s})`);
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j]!;
      }
    }
  }
  return l;
}
