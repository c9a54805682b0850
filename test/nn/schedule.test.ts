import { describe, expect, test } from 'vitest';
import { fromArray } from '../../engine/index.js';
import { LrScheduler, SGD, constantSchedule, cosineSchedule, linearWarmup, parameter } from '../../nn/index.js';

describe('schedules', () => {
  test('constant', () => {
    expect([0, 1, 1000].map(constantSchedule())).toEqual([1, 1, 1]);
  });

  test('linear warmup: 0 at step 0, 1 from step warmupSteps on', () => {
    expect([0, 1, 2, 3, 4, 5, 100].map(linearWarmup(4))).toEqual([0, 0.25, 0.5, 0.75, 1, 1, 1]);
    expect(linearWarmup(0)(0)).toBe(1);
    expect(() => linearWarmup(-1)).toThrow(/warmupSteps must be an integer ≥ 0/);
  });

  test('cosine: ½(1 + cos(π·t/T)) from 1 to 0, then flat', () => {
    const f = cosineSchedule({ totalSteps: 10 });
    expect(f(0)).toBe(1);
    expect(f(5)).toBeCloseTo(0.5, 15);
    expect(f(2)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI / 5)), 15);
    expect(f(10)).toBeCloseTo(0, 15);
    expect(f(15)).toBeCloseTo(0, 15);
  });

  test('cosine with warmup and a floor', () => {
    const f = cosineSchedule({ totalSteps: 12, warmupSteps: 2, minFactor: 0.1 });
    expect([f(0), f(1), f(2)]).toEqual([0, 0.5, 1]);
    expect(f(7)).toBeCloseTo(0.1 + 0.9 * 0.5, 15);
    expect(f(12)).toBeCloseTo(0.1, 15);
    expect(() => cosineSchedule({ totalSteps: 2, warmupSteps: 2 })).toThrow(/totalSteps must be an integer ≥ 3/);
  });
});

describe('LrScheduler', () => {
  test('sets each group to its base rate times the factor, starting at step 0, and checkpoints its step', () => {
    const opt = new SGD([{ params: [parameter(fromArray([1]))] }, { params: [parameter(fromArray([1]))], lr: 1 }], { lr: 0.1 });
    const sched = new LrScheduler(opt, linearWarmup(4));
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0, 0]);
    sched.step();
    sched.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.05, 0.5]);
    const saved = sched.getState();
    expect(saved).toEqual({ step: 2, baseLrs: [0.1, 1] });
    const opt2 = new SGD([{ params: [parameter(fromArray([1]))] }, { params: [parameter(fromArray([1]))], lr: 7 }], { lr: 7 });
    const sched2 = new LrScheduler(opt2, linearWarmup(4));
    sched2.setState(saved);
    sched2.step();
    expect(opt2.paramGroups.map((g) => g.lr)).toEqual([0.1 * 0.75, 0.75]);
    expect(sched2.stepCount).toBe(3);
  });
});
