import type { SampleEvaluation } from './cli/eval-samples.js';
import type { VaeEvaluation } from './cli/eval-vae.js';
import { formatValue } from './cli/shared.js';

/*
 * The results of `npm run reproduce` (eval/reproduce.ts) and the tables made from them: one row per tokenizer in
 * the style of the paper's Tables 2 and 6, then, for each latent width, whether the VF loss moved each metric the
 * better way.
 */

/** The budget every arm gets: the same step counts, batches and evaluation sizes. */
export interface ReproductionSettings {
  quick: boolean;
  backend: string;
  seed: number;
  vaeSteps: number;
  vaeBatchSize: number;
  encodeImages: number;
  ditSteps: number;
  ditBatchSize: number;
  evalImages: number;
  tsnePoints: number;
  samplesPerClass: number;
  samplerSteps: number;
  cfgScale: number;
  referenceImages: number;
}

/** One tokenizer (a latent width, with or without the VF loss) and the LightningDiT trained on its latents. */
export interface ArmResult {
  name: string;
  /** Latent channels (the d of f4dN). */
  width: number;
  vf: boolean;
  /** The seed of every stage (training, encoding, evaluation). */
  seed: number;
  /** Wall time of each stage. */
  seconds: { trainVae: number; encode: number; trainDit: number; evalVae: number; evalSamples: number; total: number };
  vae: VaeEvaluation;
  samples: SampleEvaluation;
}

export interface Verdict {
  width: number;
  metric: string;
  better: 'lower' | 'higher';
  withoutVf: number | null;
  withVf: number | null;
  /** Whether the VF arm is better; null when a value is missing or both are equal. */
  helped: boolean | null;
}

export interface ReproductionResults {
  startedAt: string;
  settings: ReproductionSettings;
  arms: ArmResult[];
  verdicts: Verdict[];
  seconds: number;
}

interface Column {
  label: string;
  better: 'lower' | 'higher';
  value: (arm: ArmResult) => number | null;
}

/** The paper's columns: reconstruction (Table 2), generation (Table 2), latent uniformity (Table 6). */
export const COLUMNS: readonly Column[] = [
  { label: 'rFID', better: 'lower', value: (a) => a.vae.rfid },
  { label: 'PSNR', better: 'higher', value: (a) => a.vae.psnr },
  { label: 'SSIM', better: 'higher', value: (a) => a.vae.ssim },
  { label: 'gFID', better: 'lower', value: (a) => a.samples.gfid },
  { label: 'cond. acc.', better: 'higher', value: (a) => a.samples.classAccuracy },
  { label: 'density CV', better: 'lower', value: (a) => a.vae.uniformity?.densityCv ?? null },
  { label: 'Gini', better: 'lower', value: (a) => a.vae.uniformity?.giniCoefficient ?? null },
  { label: 'norm. entropy', better: 'higher', value: (a) => a.vae.uniformity?.normalizedEntropy ?? null },
];

/** For each width that has both arms: did the VF loss move each metric the better way? */
export function vfVerdicts(arms: readonly ArmResult[]): Verdict[] {
  const widths = [...new Set(arms.map((a) => a.width))].sort((a, b) => a - b);
  return widths.flatMap((width) => {
    const withVf = arms.find((a) => a.width === width && a.vf);
    const withoutVf = arms.find((a) => a.width === width && !a.vf);
    if (!withVf || !withoutVf) return [];
    return COLUMNS.map((column) => {
      const [off, on] = [column.value(withoutVf), column.value(withVf)];
      const helped = off === null || on === null || off === on ? null : column.better === 'lower' ? on < off : on > off;
      return { width, metric: column.label, better: column.better, withoutVf: off, withVf: on, helped };
    });
  });
}

const arrow = (better: 'lower' | 'higher') => (better === 'lower' ? '↓' : '↑');
const tokenizer = (width: number) => `f4d${width}`;

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function renderTable(results: ReproductionResults): string {
  const { settings: s, arms } = results;
  const lines = [
    `# VA-VAE + LightningDiT at MNIST scale${s.quick ? ' (--quick: toy sizes, not a result)' : ''}`,
    '',
    `Started ${results.startedAt}; ${(results.seconds / 60).toFixed(1)} min in all on the ${s.backend} backend; seed ${s.seed} for every stage of every arm.`,
    `Each arm: VA-VAE ${s.vaeSteps} steps of batch ${s.vaeBatchSize} on 16×16 digits (f4, a 4×4 latent grid); ${s.encodeImages} training digits encoded;`,
    `LightningDiT ${s.ditSteps} steps of batch ${s.ditBatchSize}. Reconstruction and uniformity on ${s.evalImages} MNIST test digits (t-SNE of ${s.tsnePoints} latent vectors);`,
    `generation from ${s.samplesPerClass} samples per class (Euler, ${s.samplerSteps} grid points, guidance ${s.cfgScale <= 1 ? 'off' : s.cfgScale}) against ${s.referenceImages} test digits.`,
    'FIDs are Fréchet distances of the bundled MNIST classifier\'s 128-wide features (not InceptionV3), so they are on their own scale.',
    'The VF loss aligns the latents with that classifier\'s conv3 map, in the role DINOv2 plays in the paper.',
    '',
    row(['tokenizer', 'VF loss', ...COLUMNS.map((c) => `${c.label} ${arrow(c.better)}`), 'wall (min)']),
    row(Array.from({ length: COLUMNS.length + 3 }, () => '---')),
    ...arms.map((a) => row([tokenizer(a.width), a.vf ? 'yes' : 'no', ...COLUMNS.map((c) => formatValue(c.value(a))), (a.seconds.total / 60).toFixed(1)])),
  ];
  const verdicts = vfVerdicts(arms);
  const widths = [...new Set(verdicts.map((v) => v.width))];
  if (widths.length > 0) {
    lines.push('', '## Did the VF loss help?', '', 'Per latent width, the metric without → with the VF loss; ✓ where the VF arm is better (↓ lower or ↑ higher is better).', '');
    lines.push(row(['metric', ...widths.map((w) => `${tokenizer(w)}: no VF → VF`), ...widths.map((w) => `helped at d${w}`)]));
    lines.push(row(Array.from({ length: 2 * widths.length + 1 }, () => '---')));
    for (const column of COLUMNS) {
      const at = widths.map((w) => verdicts.find((v) => v.width === w && v.metric === column.label)!);
      lines.push(row([`${column.label} ${arrow(column.better)}`, ...at.map((v) => `${formatValue(v.withoutVf)} → ${formatValue(v.withVf)}`), ...at.map((v) => (v.helped === null ? '=' : v.helped ? '✓' : '✗'))]));
    }
    lines.push('', ...widths.map((w) => {
      const mine = verdicts.filter((v) => v.width === w);
      const count = (helped: boolean | null) => mine.filter((v) => v.helped === helped).length;
      return `- d${w}: with the VF loss ${count(true)} of ${mine.length} metrics were better, ${count(false)} worse, ${count(null)} equal or missing.`;
    }));
  }
  lines.push('', 'Wall time per arm (min): ' + arms.map((a) => `${a.name} ${(a.seconds.total / 60).toFixed(1)} (VA-VAE ${(a.seconds.trainVae / 60).toFixed(1)}, DiT ${(a.seconds.trainDit / 60).toFixed(1)}, eval ${((a.seconds.evalVae + a.seconds.evalSamples) / 60).toFixed(1)})`).join('; ') + '.', '');
  return lines.join('\n');
}
