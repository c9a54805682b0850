import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type Tensor, fromArray, manualSeed, mul, ones, scope, sum, zeros } from '../../engine/index.js';
import { loadSafetensors, saveSafetensors } from '../../engine/safetensors.js';
import {
  Dropout,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  StateDictError,
  assign,
  buffer,
  parameter,
} from '../../nn/index.js';

const values = (t: Tensor) => Array.from(t.toArraySync());

class Net extends Module {
  readonly table = parameter(zeros([2, 2]), { requiresGrad: false });
  readonly stats = buffer(ones([3]));
  readonly scratch = buffer(zeros([5]), { persistent: false });
  readonly embed = new Linear(3, 4);
  readonly blocks = new ModuleList<Module>([new Linear(4, 4), new LayerNorm(4, { elementwiseAffine: false }), new Linear(4, 4, { bias: false })]);
  readonly drop = new Dropout(0.5);
  readonly head = new Linear(4, 2);
}

describe('Module', () => {
  test("stateDict keys and order are PyTorch's: own parameters, own buffers, then children; ModuleList children by index", () => {
    const net = new Net();
    expect([...net.stateDict().keys()]).toEqual([
      'table',
      'stats',
      'embed.weight',
      'embed.bias',
      'blocks.0.weight',
      'blocks.0.bias',
      'blocks.2.weight',
      'head.weight',
      'head.bias',
    ]);
    expect(net.namedParameters().map(([k]) => k)).toEqual(['table', 'embed.weight', 'embed.bias', 'blocks.0.weight', 'blocks.0.bias', 'blocks.2.weight', 'head.weight', 'head.bias']);
    expect(net.namedBuffers().map(([k]) => k)).toEqual(['stats', 'scratch']);
    expect(net.namedModules().map(([k]) => k)).toEqual(['', 'embed', 'blocks', 'blocks.0', 'blocks.1', 'blocks.2', 'drop', 'head']);
  });

  test('parameter counts (frozen included unless trainableOnly)', () => {
    const net = new Net();
    const trainable = 3 * 4 + 4 + 4 * 4 + 4 + 4 * 4 + 4 * 2 + 2;
    expect(net.numParameters({ trainableOnly: true })).toBe(trainable);
    expect(net.numParameters()).toBe(trainable + 4);
    net.requiresGrad_(false);
    expect(net.numParameters({ trainableOnly: true })).toBe(0);
  });

  test('explicit registration, and names that cannot be keys', () => {
    class Dyn extends Module {}
    const m = new Dyn();
    m.registerModule('inner', new Linear(2, 2, { bias: false }));
    m.registerParameter('scale', ones([1]));
    m.registerParameter('absent', null);
    m.registerBuffer('mask', zeros([2]));
    expect([...m.stateDict().keys()]).toEqual(['scale', 'mask', 'inner.weight']);
    expect(() => m.registerModule('a.b', new Linear(1, 1))).toThrow(/contain no '\.'/);
  });

  test('a module shared under two names: parameters once, state-dict keys under both names', () => {
    class Tied extends Module {
      readonly a = new Linear(2, 2);
      readonly b = this.a;
    }
    const m = new Tied();
    expect(m.namedParameters().map(([k]) => k)).toEqual(['a.weight', 'a.bias']);
    expect([...m.stateDict().keys()]).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    expect(m.numParameters()).toBe(6);
  });

  test('train() and eval() reach every submodule; dropout is the identity in eval mode', () => {
    const net = new Net();
    expect(net.modules().every((m) => m.training)).toBe(true);
    net.eval();
    expect(net.modules().some((m) => m.training)).toBe(false);
    const x = fromArray([1, 2, 3, 4], [4]);
    expect(net.drop.forward(x)).toBe(x);
    net.train();
    expect(net.blocks.at(1).training).toBe(true);
  });

  test('state round trip through a safetensors file restores every value into the same parameter objects', async () => {
    manualSeed(1);
    const a = new Net();
    manualSeed(2);
    const b = new Net();
    const before = b.parameters();
    const dir = await mkdtemp(join(tmpdir(), 'module-test-'));
    try {
      const path = join(dir, 'net.safetensors');
      await saveSafetensors(path, a.stateDict());
      const { tensors } = await loadSafetensors(path);
      expect(b.loadStateDict(tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(b.parameters()).toEqual(before);
    b.parameters().forEach((p, i) => expect(p).toBe(before[i]));
    for (const [k, t] of a.stateDict()) expect(values(b.stateDict().get(k)!)).toEqual(values(t));
    expect(values(b.embed.weight)).not.toEqual(values(new Net().embed.weight));
  });

  test('strict loading lists missing keys, unexpected keys and shape mismatches in one error, and writes nothing', () => {
    const net = new Net();
    const state = new Map(net.stateDict());
    state.delete('head.bias');
    state.delete('stats');
    state.set('head.extra', zeros([1]));
    state.set('embed.weight', zeros([4, 4]));
    state.set('embed.bias', fromArray([9, 9, 9, 9]));
    const before = values(net.embed.bias!);
    let error: StateDictError | undefined;
    try {
      net.loadStateDict(state);
    } catch (e) {
      error = e as StateDictError;
    }
    expect(error).toBeInstanceOf(StateDictError);
    expect(error!.missingKeys).toEqual(['stats', 'head.bias']);
    expect(error!.unexpectedKeys).toEqual(['head.extra']);
    expect(error!.mismatches).toEqual(['embed.weight: shape [4,4] in the state, [4,3] in the module']);
    expect(error!.message).toMatch(/missing keys: stats, head\.bias\. unexpected keys: head\.extra\. mismatches: embed\.weight/);
    expect(values(net.embed.bias!)).toEqual(before);
  });

  test('non-strict loading reports missing and unexpected keys, loads the rest; shape mismatches still throw', () => {
    const net = new Net();
    const result = net.loadStateDict({ 'head.bias': fromArray([5, 6]), extra: zeros([1]) }, { strict: false });
    expect(result.unexpectedKeys).toEqual(['extra']);
    expect(result.missingKeys).toContain('head.weight');
    expect(values(net.head.bias!)).toEqual([5, 6]);
    expect(() => net.loadStateDict({ 'head.bias': zeros([3]) }, { strict: false })).toThrow(/head\.bias: shape \[3\] in the state, \[2\] in the module/);
  });

  test('loading casts dtypes (a float64 checkpoint into a float32 model)', () => {
    const lin = new Linear(1, 1);
    lin.loadStateDict({ weight: fromArray([0.1], [1, 1], { dtype: 'float64' }), bias: fromArray([-2], [1], { dtype: 'float64' }) });
    expect(lin.weight.dtype).toBe('float32');
    expect(values(lin.weight)).toEqual([Math.fround(0.1)]);
    expect(values(lin.bias!)).toEqual([-2]);
  });

  test('to(dtype) converts float parameters and buffers, keeps int32 buffers, sharing and frozen flags', () => {
    class Tied extends Module {
      readonly a = new Linear(2, 2);
      readonly b = this.a;
      readonly frozen = parameter(ones([1]), { requiresGrad: false });
      readonly labels = buffer(fromArray([1, 2], [2], { dtype: 'int32' }));
    }
    const m = new Tied();
    const before = values(m.a.weight);
    m.to('float64');
    expect(m.a.weight.dtype).toBe('float64');
    expect(values(m.a.weight)).toEqual(before);
    expect(m.b.weight).toBe(m.a.weight);
    expect(m.frozen.dtype).toBe('float64');
    expect(m.frozen.requiresGrad).toBe(false);
    expect(m.labels.dtype).toBe('int32');
    expect(m.a.forward(fromArray([1, 2], [1, 2], { dtype: 'float64' })).dtype).toBe('float64');
    expect(m.numParameters()).toBe(7);
  });

  test('zeroGrad drops every gradient', () => {
    const lin = new Linear(2, 1);
    sum(lin.forward(fromArray([1, 2], [1, 2]))).backward();
    expect(lin.weight.grad).not.toBeNull();
    lin.zeroGrad();
    expect(lin.parameters().map((p) => p.grad)).toEqual([null, null]);
  });
});

describe('parameters and in-place assignment', () => {
  test('parameters are persistent leaves that survive scopes; a recorded result becomes a fresh leaf', () => {
    const x = fromArray([1, 2], [2], { requiresGrad: true });
    const p = scope(() => parameter(mul(x, 3)));
    expect(p.disposed).toBe(false);
    expect(p.isLeaf).toBe(true);
    expect(p.requiresGrad).toBe(true);
    expect(p.persistent).toBe(true);
    expect(values(p)).toEqual([3, 6]);
  });

  test('assign writes values in place, keeping the object; views and shape changes are refused', () => {
    const p = parameter(zeros([2, 2]));
    const storage = p.storage;
    assign(p, fromArray([1, 2, 3, 4], [2, 2]).transpose(0, 1));
    expect(values(p)).toEqual([1, 3, 2, 4]);
    expect(p.storage).toBe(storage);
    assign(p, p.transpose(0, 1)); // source aliasing the target
    expect(values(p)).toEqual([1, 2, 3, 4]);
    expect(() => assign(p, zeros([4]))).toThrow(/source shape \[4\] differs from target shape \[2,2\]/);
    expect(() => assign(p.transpose(0, 1), zeros([2, 2]))).toThrow(/only whole tensors/);
    const y = mul(fromArray([1], [1], { requiresGrad: true }), 2);
    expect(() => assign(y, zeros([1]))).toThrow(/only leaves/);
  });
});
