/*
 * A tiny writer for ONNX models (protobuf), enough to build one-op graphs in-process for onnxruntime: float32
 * tensors, nodes with int/float/ints attributes, weights as initializers. Field numbers are those of onnx.proto.
 *
 * Protobuf in brief: a message is a run of fields, each a key (field number << 3 | wire type) and a value.
 * Wire type 0 is a varint (7 bits a byte, low first), 2 is length-delimited (nested messages, strings,
 * bytes), 5 is a little-endian 32-bit value (a float).
 */

type Field = Uint8Array;

function varint(value: number | bigint): number[] {
  // Negative int64 values take ten bytes: their two's complement as an unsigned 64-bit number.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const key = (field: number, wireType: number) => varint((field << 3) | wireType);
function concat(parts: readonly (Field | number[])[]): Field {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const int = (field: number, value: number): Field => concat([key(field, 0), varint(value)]);
const bytes = (field: number, value: Uint8Array): Field => concat([key(field, 2), varint(value.length), value]);
const string = (field: number, value: string): Field => bytes(field, new TextEncoder().encode(value));
const message = (field: number, fields: readonly Field[]): Field => bytes(field, concat(fields));
function float(field: number, value: number): Field {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, value, true);
  return concat([key(field, 5), b]);
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

export type Attribute = { name: string } & ({ int: number } | { float: number } | { ints: readonly number[] });

export interface Node {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: readonly Attribute[];
}

export interface Graph {
  nodes: readonly Node[];
  /** Graph inputs, fed at each run. */
  inputs: readonly { name: string; shape: readonly number[] }[];
  outputs: readonly { name: string; shape: readonly number[] }[];
  /** Constant tensors (weights): the runtime may pre-pack them once, at session creation. */
  initializers?: readonly { name: string; shape: readonly number[]; data: Float32Array }[];
}

// AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7).
function attribute(a: Attribute): Field {
  const name = string(1, a.name);
  if ('int' in a) return message(5, [name, int(20, 2), int(3, a.int)]);
  if ('float' in a) return message(5, [name, int(20, 1), float(2, a.float)]);
  return message(5, [name, int(20, 7), ...a.ints.map((v) => int(8, v))]);
}

// NodeProto: input 1, output 2, op_type 4, attribute 5.
const node = (n: Node): Field =>
  message(1, [...n.inputs.map((s) => string(1, s)), ...n.outputs.map((s) => string(2, s)), string(4, n.op), ...(n.attributes ?? []).map(attribute)]);

// ValueInfoProto: name 1, type 2 → TypeProto.tensor_type 1 → elem_type 1, shape 2 → dim 1 → dim_value 1.
const valueInfo = (field: number, v: { name: string; shape: readonly number[] }): Field =>
  message(field, [string(1, v.name), message(2, [message(1, [int(1, FLOAT), message(2, v.shape.map((d) => message(1, [int(1, d)])))])])]);

// TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian, as Float32Array is on x86 and ARM).
const initializer = (t: { name: string; shape: readonly number[]; data: Float32Array }): Field =>
  message(5, [...t.shape.map((d) => int(1, d)), int(2, FLOAT), string(8, t.name), bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);

/** The serialised ModelProto (IR version 8, default-domain opset 17: the first with LayerNormalization). */
export function onnxModel(g: Graph): Uint8Array {
  // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
  const graph = message(7, [...g.nodes.map(node), string(2, 'bench'), ...(g.initializers ?? []).map(initializer), ...g.inputs.map((v) => valueInfo(11, v)), ...g.outputs.map((v) => valueInfo(12, v))]);
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (OperatorSetIdProto: domain 1, version 2).
  return concat([int(1, 8), string(2, 'bench/peers'), graph, message(8, [string(1, ''), int(2, 17)])]);
}
