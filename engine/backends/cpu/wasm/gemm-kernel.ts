import { type ValueType, type WasmFunction, op, valueType, wasmModule } from './assembler.js';

/*
 * The GEMM macro-kernel in WebAssembly SIMD. One call multiplies a whole packed block: for every panel of B and
 * every panel of A it computes a rows × (2·vectorsPerRow) tile of A·B over kc steps, with the tile held in v128
 * locals (two f64 lanes each), and stores the tile into a row-major C block. Looping over the tiles inside wasm
 * keeps the JS↔wasm call cost to one call per block.
 *
 * The arithmetic matches the plain TypeScript tile exactly: each accumulator starts at zero and, step by step
 * in k order, adds the rounded product (f64x2.mul, then f64x2.add: wasm never fuses them). So every C element is
 * the same double, bit for bit.
 *
 * Layout in memory (byte addresses; 16-byte alignment is faster, but wasm's alignment hints are only hints):
 *   B block at bAt: panels of (2·vectorsPerRow) columns, each kc rows of those columns, one after another;
 *   A block at aAt: panels of `rows` rows, each kc steps of those rows (a column of A per step);
 *   C block at cAt: row-major, `blockRows` × `blockColumns` doubles, overwritten.
 *
 * The module also packs: `pack<width>` gathers doubles already in memory (copied there in bulk by JS) into
 * panels of `width` lanes, a loop that costs JS a bounds check and an index computation per element.
 */

/** The exported multiply's name and signature: (kc, blockRows, blockColumns, aAt, bAt, cAt) → (). */
export const blockFunctionName = 'multiplyBlock';
export type MultiplyBlock = (kc: number, blockRows: number, blockColumns: number, aAt: number, bAt: number, cAt: number) => void;

/**
 * The exported packer for panels of `width` lanes, and its signature: (from, laneStride, depthStride, panels,
 * depth, to) → (), addresses and strides in bytes. It writes `panels` panels, each `depth` steps of `width`
 * lanes, reading lane l of step p of panel q at from + (q·width + l)·laneStride + p·depthStride.
 */
export const packFunctionName = (width: number) => `pack${width}`;
export type PackPanels = (from: number, laneStride: number, depthStride: number, panels: number, depth: number, to: number) => void;

const F64_BYTES = 8;
const V128_BYTES = 16;

const get = op.localGet;
const constant = op.i32Const;
const set = (target: number, ...value: number[][]) => [...value.flat(), ...op.localSet(target)];
const product = (x: number, y: number) => [...get(x), ...get(y), ...op.i32Mul()];
const advance = (pointer: number, bytes: number[]) => set(pointer, get(pointer), bytes, op.i32Add());
/** A loop whose body runs until `pointer` reaches `end` (at least once). */
const repeatUntil = (pointer: number, end: number, body: number[][]) => [...op.loop(), ...body.flat(), ...get(pointer), ...get(end), ...op.i32Ne(), ...op.brIf(0), ...op.end()];

/** The module for tiles of `rows` × (2·`vectorsPerRow`), with packers for both panel widths, importing its memory as `gemm.memory`. */
export function gemmKernelModule(rows: number, vectorsPerRow: number): Uint8Array<ArrayBuffer> {
  const widths = new Set([rows, 2 * vectorsPerRow]);
  return wasmModule({ importModule: 'gemm', importName: 'memory', minPages: 1 }, [multiplyBlockFunction(rows, vectorsPerRow), ...[...widths].map(packFunction)]);
}

function multiplyBlockFunction(rows: number, vectorsPerRow: number): WasmFunction {
  const columns = 2 * vectorsPerRow;
  // Parameters, then locals, numbered in declaration order.
  const params: ValueType[] = Array(6).fill(valueType.i32);
  const [kc, blockRows, blockColumns, aAt, bAt, cAt] = [0, 1, 2, 3, 4, 5];
  const i32Names = ['aPanel', 'aPanelsEnd', 'bPanel', 'bPanelsEnd', 'cColumn', 'cTile', 'cRow', 'rowBytes', 'a', 'b', 'bEnd'] as const;
  const local = Object.fromEntries(i32Names.map((name, i) => [name, params.length + i])) as Record<(typeof i32Names)[number], number>;
  let next = params.length + i32Names.length;
  const accumulator = Array.from({ length: rows }, () => Array.from({ length: vectorsPerRow }, () => next++));
  const bRow = Array.from({ length: vectorsPerRow }, () => next++);
  const aSplat = next++;
  const locals: ValueType[] = [...Array(i32Names.length).fill(valueType.i32), ...Array(next - params.length - i32Names.length).fill(valueType.v128)];

  const zeroAccumulators = accumulator.flat().flatMap((acc) => set(acc, op.f64Const(0), op.f64x2Splat()));

  // One k step: load B's row of the panel, then for each row of A splat its value and add its products.
  const kStep = [
    ...bRow.flatMap((v, index) => set(v, get(local.b), op.v128Load(index * V128_BYTES))),
    ...accumulator.flatMap((accRow, r) => [
      ...set(aSplat, get(local.a), op.v128Load64Splat(r * F64_BYTES)),
      ...accRow.flatMap((acc, index) => set(acc, get(acc), get(aSplat), get(bRow[index]!), op.f64x2Mul(), op.f64x2Add())),
    ]),
    ...advance(local.a, constant(rows * F64_BYTES)),
    ...advance(local.b, constant(columns * F64_BYTES)),
  ];

  const storeTile = [
    ...set(local.cRow, get(local.cTile)),
    ...accumulator.flatMap((accRow) => [
      ...accRow.flatMap((acc, index) => [...get(local.cRow), ...get(acc), ...op.v128Store(index * V128_BYTES)]),
      ...advance(local.cRow, get(local.rowBytes)),
    ]),
  ];

  const tile = [
    zeroAccumulators,
    set(local.a, get(local.aPanel)),
    set(local.b, get(local.bPanel)),
    repeatUntil(local.b, local.bEnd, [kStep]),
    storeTile,
    set(local.aPanel, get(local.a)), // the k loop leaves `a` at the next panel of A
    advance(local.cTile, [...get(local.rowBytes), ...constant(rows), ...op.i32Mul()]),
  ];

  const panelOfB = [
    set(local.aPanel, get(aAt)),
    set(local.cTile, get(local.cColumn)),
    set(local.bEnd, get(local.bPanel), get(kc), constant(columns * F64_BYTES), op.i32Mul(), op.i32Add()),
    repeatUntil(local.aPanel, local.aPanelsEnd, tile),
    set(local.bPanel, get(local.bEnd)),
    advance(local.cColumn, constant(columns * F64_BYTES)),
  ];

  const code = [
    ...set(local.rowBytes, get(blockColumns), constant(F64_BYTES), op.i32Mul()),
    ...set(local.aPanelsEnd, get(aAt), product(blockRows, kc), constant(F64_BYTES), op.i32Mul(), op.i32Add()),
    ...set(local.bPanelsEnd, get(bAt), product(blockColumns, kc), constant(F64_BYTES), op.i32Mul(), op.i32Add()),
    ...set(local.bPanel, get(bAt)),
    ...set(local.cColumn, get(cAt)),
    ...repeatUntil(local.bPanel, local.bPanelsEnd, panelOfB),
  ];

  return { name: blockFunctionName, params, results: [], locals, code };
}

function packFunction(width: number): WasmFunction {
  const params: ValueType[] = Array(6).fill(valueType.i32);
  const [from, laneStride, depthStride, panels, depth, to] = [0, 1, 2, 3, 4, 5];
  const [panelFrom, panelsEnd, stepFrom, stepsEnd, laneFrom] = [6, 7, 8, 9, 10];
  const locals: ValueType[] = Array(5).fill(valueType.i32);
  const panelStride = [...get(laneStride), ...constant(width), ...op.i32Mul()];
  const copyLanes = [
    ...set(laneFrom, get(stepFrom)),
    ...Array.from({ length: width }, (_, l) => [
      ...get(to), ...get(laneFrom), ...op.f64Load(), ...op.f64Store(l * F64_BYTES),
      ...(l < width - 1 ? advance(laneFrom, get(laneStride)) : []),
    ]).flat(),
    ...advance(to, constant(width * F64_BYTES)),
  ];
  const panel = [
    set(stepFrom, get(panelFrom)),
    set(stepsEnd, get(panelFrom), product(depth, depthStride), op.i32Add()),
    repeatUntil(stepFrom, stepsEnd, [copyLanes, advance(stepFrom, get(depthStride))]),
    advance(panelFrom, panelStride),
  ];
  const code = [
    ...set(panelFrom, get(from)),
    ...set(panelsEnd, get(from), get(panels), panelStride, op.i32Mul(), op.i32Add()),
    ...repeatUntil(panelFrom, panelsEnd, panel),
  ];
  return { name: packFunctionName(width), params, results: [], locals, code };
}
