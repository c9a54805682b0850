/**
 * The record of ops that ran on the CPU backend's kernels instead of gpu.js, so that the fallback is never
 * silent. The rule (backend.ts): an op runs on gpu.js when it has a gpu.js kernel and every input and output is
 * a non-empty float32 tensor whose storage has at most 2^24 elements; otherwise it runs the CPU kernel on the same host arrays, and is counted here.
 */
export type FallbackReason = 'no gpu.js kernel' | 'float64' | 'int32' | 'empty tensor' | 'over 2^24 elements';

export interface FallbackCount {
  count: number;
  /** How many of `count` fell back for each reason. */
  byReason: Partial<Record<FallbackReason, number>>;
}

export class FallbackLedger {
  private readonly counts = new Map<string, FallbackCount>();
  /** Kernel calls that ran on gpu.js. */
  onGpuJs = 0;

  record(op: string, reason: FallbackReason): void {
    let entry = this.counts.get(op);
    if (!entry) this.counts.set(op, (entry = { count: 0, byReason: {} }));
    entry.count++;
    entry.byReason[reason] = (entry.byReason[reason] ?? 0) + 1;
  }

  /** Op name → how often it fell back, and why. */
  snapshot(): Map<string, FallbackCount> {
    return new Map([...this.counts].map(([op, c]) => [op, { count: c.count, byReason: { ...c.byReason } }]));
  }

  reset(): void {
    this.counts.clear();
    this.onGpuJs = 0;
  }

  /** One line, e.g. `412 kernel calls on gpu.js, 7 on the CPU: where ×4 (no gpu.js kernel), sum ×3 (int32)`. */
  summary(): string {
    const entries = [...this.counts].sort((x, y) => y[1].count - x[1].count);
    const fellBack = entries.reduce((n, [, c]) => n + c.count, 0);
    const head = `${this.onGpuJs} kernel calls on gpu.js, ${fellBack} on the CPU`;
    if (entries.length === 0) return head;
    const parts = entries.map(([op, c]) => `${op} ×${c.count} (${Object.keys(c.byReason).join(', ')})`);
    return `${head}: ${parts.join(', ')}`;
  }
}
