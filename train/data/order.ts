import { randomValue } from '../../engine/random.js';

/**
 * The order in which a training run visits its data, and the per-sample coin flips (horizontal flip): a fresh
 * random permutation per epoch, drawn with the engine's counter-based Philox generator. Everything is a pure
 * function of (seed, epoch, position), so the state that a checkpoint needs is three integers, and a resumed run
 * sees exactly the samples that an uninterrupted one would.
 */
export interface DataOrderState {
  seed: number;
  epoch: number;
  /** Position within the epoch's permutation. */
  cursor: number;
}

export interface Draw {
  index: number;
  /** A uniform number in [0, 1) that belongs to this draw (e.g. compared with the flip probability). */
  coin: number;
}

export class DataOrder {
  private permutation: Int32Array | undefined;
  private permutationEpoch = -1;
  private readonly words = new Uint32Array(4);

  constructor(
    readonly size: number,
    private state: DataOrderState,
  ) {
    if (!(size > 0)) throw new RangeError('DataOrder: the data set is empty');
  }

  static fresh(size: number, seed: number): DataOrder {
    return new DataOrder(size, { seed, epoch: 0, cursor: 0 });
  }

  getState(): DataOrderState {
    return { ...this.state };
  }

  setState(state: DataOrderState): void {
    this.state = { ...state };
  }

  get epoch(): number {
    return this.state.epoch;
  }

  /** The next sample; a new epoch (and permutation) starts when the current one is used up. */
  next(): Draw {
    if (this.state.cursor >= this.size) this.state = { ...this.state, epoch: this.state.epoch + 1, cursor: 0 };
    const { seed, epoch, cursor } = this.state;
    const order = this.permutationOf(epoch);
    // Counters [2n·e, 2n·e + n) shuffle epoch e; [2n·e + n, 2n·(e + 1)) are its coins.
    const coin = randomValue({ seed, offset: 0, distribution: 'uniform' }, 2 * this.size * epoch + this.size + cursor, this.words);
    this.state = { ...this.state, cursor: cursor + 1 };
    return { index: order[cursor]!, coin };
  }

  /** Fisher–Yates with one 32-bit draw per swap. */
  private permutationOf(epoch: number): Int32Array {
    if (this.permutationEpoch === epoch && this.permutation) return this.permutation;
    const n = this.size;
    const p = Int32Array.from({ length: n }, (_, i) => i);
    const base = 2 * n * epoch;
    for (let i = n - 1; i > 0; i--) {
      const j = randomValue({ seed: this.state.seed, offset: 0, distribution: 'randint', low: 0, high: i + 1 }, base + i, this.words);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    this.permutation = p;
    this.permutationEpoch = epoch;
    return p;
  }
}
