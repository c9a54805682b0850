/**
 * What a training run shows while it works: on a terminal, one status line redrawn in place (a bar, the step, the
 * loss, samples per second and the time left); otherwise (a log file, CI) a plain line every `logEvery` steps.
 */
export interface ProgressOptions {
  label: string;
  startStep: number;
  totalSteps: number;
  /** Samples per step, for the throughput. */
  batchSize: number;
  logEvery: number;
  stream?: NodeJS.WriteStream;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(rest).padStart(2, '0')}s` : `${rest}s`;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly live: boolean;
  private readonly started = performance.now();
  private lastDraw = 0;
  private barShown = false;
  /** Seconds per step, smoothed. */
  private secondsPerStep: number | undefined;
  private lastStepAt = performance.now();

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stdout;
    this.live = this.stream.isTTY === true;
  }

  /** Called after every step with that step's metrics. */
  update(step: number, metrics: Record<string, number>): void {
    const now = performance.now();
    const dt = (now - this.lastStepAt) / 1000;
    this.lastStepAt = now;
    this.secondsPerStep = this.secondsPerStep === undefined ? dt : 0.9 * this.secondsPerStep + 0.1 * dt;
    const status = this.status(step, metrics);
    if (this.live) {
      if (now - this.lastDraw < 100 && step !== this.opts.totalSteps) return;
      this.lastDraw = now;
      this.stream.write(`\r\x1b[2K${this.bar(step)} ${status}`);
      this.barShown = true;
    } else if (step % this.opts.logEvery === 0 || step === this.opts.totalSteps) {
      this.stream.write(`${this.opts.label} ${status}\n`);
    }
  }

  /** A message on its own line (the status line is redrawn after it). */
  note(message: string): void {
    if (this.barShown) this.stream.write('\r\x1b[2K');
    this.stream.write(`${message}\n`);
    this.barShown = false;
  }

  done(): void {
    if (this.barShown) this.stream.write('\n');
    this.barShown = false;
  }

  private bar(step: number): string {
    const width = 24;
    const filled = Math.round((step / this.opts.totalSteps) * width);
    return `${this.opts.label} [${'█'.repeat(filled)}${'·'.repeat(width - filled)}]`;
  }

  private status(step: number, metrics: Record<string, number>): string {
    const sps = this.secondsPerStep ?? 0;
    const rate = sps > 0 ? this.opts.batchSize / sps : 0;
    const eta = sps * (this.opts.totalSteps - step);
    const shown = Object.entries(metrics)
      .slice(0, 4)
      .map(([k, v]) => `${k} ${format(v)}`)
      .join('  ');
    const elapsed = (performance.now() - this.started) / 1000;
    return `step ${step}/${this.opts.totalSteps}  ${shown}  ${rate.toFixed(1)} samples/s  elapsed ${formatDuration(elapsed)}  ETA ${formatDuration(eta)}`;
  }
}

function format(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? v.toExponential(3) : v.toFixed(4);
}
