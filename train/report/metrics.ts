import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../files.js';
import { type Series, lineChart, smooth } from './plot.js';
import { writePng } from './images.js';

/**
 * Training metrics as JSON lines: every `every` steps one line with the mean of each metric over those steps. The
 * running sums of the current window are part of the checkpoint, so that a resumed run writes exactly the lines
 * an uninterrupted one would.
 */
export interface MetricsWindow {
  count: number;
  sums: Record<string, number>;
}

export interface MetricsLine {
  step: number;
  [metric: string]: number;
}

export class MetricsLog {
  private window: MetricsWindow = { count: 0, sums: {} };

  private constructor(
    readonly path: string,
    readonly every: number,
    readonly history: MetricsLine[],
  ) {}

  /** Opens the log of a run; lines past `resumeStep` (written after the checkpoint being resumed) are dropped. */
  static async open(path: string, every: number, resumeStep: number): Promise<MetricsLog> {
    const kept = existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as MetricsLine)
          .filter((l) => l.step <= resumeStep)
      : [];
    await writeFileAtomic(path, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
    return new MetricsLog(path, every, kept);
  }

  getState(): MetricsWindow {
    return structuredClone(this.window);
  }

  setState(window: MetricsWindow): void {
    this.window = structuredClone(window);
  }

  /** Adds one step's metrics; returns the line written when this step closes a window. */
  add(step: number, metrics: Record<string, number>, extra: Record<string, number> = {}): MetricsLine | undefined {
    for (const [k, v] of Object.entries(metrics)) this.window.sums[k] = (this.window.sums[k] ?? 0) + v;
    this.window.count++;
    if (step % this.every !== 0) return undefined;
    const line: MetricsLine = { step };
    for (const [k, v] of Object.entries(this.window.sums)) line[k] = v / this.window.count;
    Object.assign(line, extra);
    appendFileSync(this.path, `${JSON.stringify(line)}\n`);
    this.history.push(line);
    this.window = { count: 0, sums: {} };
    return line;
  }

  /** Draws `metric` over the run (raw and smoothed) into a PNG. */
  async plot(path: string, title: string, metric = 'loss'): Promise<void> {
    const points = this.history.filter((l) => Number.isFinite(l[metric])).map((l) => [l.step, l[metric]!] as [number, number]);
    const series: Series[] = [{ name: metric, points, colour: [150, 190, 235] }];
    // Smoothing over about a 25th of the curve: enough to show the trend, little enough not to lag behind it.
    if (points.length > 25) series.push({ name: 'smoothed', points: smooth(points, Math.min(0.95, 1 - 25 / points.length)), colour: [20, 70, 170] });
    await writePng(path, lineChart(title, series));
  }
}
