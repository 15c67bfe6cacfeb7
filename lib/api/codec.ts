// Runs in a Node API caller's process.
// The value codec of call(): JavaScript values to a JSON tree plus raw byte blobs, and back.
// Specified in docs/PROTOCOL.md ("Values"), mirrored by python/_pynwheel/codec.py; the vectors
// in test/vectors/values.json are checked from both sides. A tagged value is an object whose
// "$pn" names its kind; a plain object with a "$pn" key travels as {"$pn": "object", "v": {...}}.

const TAG = '$pn';

/** The typed array that views each dtype's data ('<f2' has none: its raw 16-bit words). */
const ARRAY_TYPES = {
  '|b1': Uint8Array, '|i1': Int8Array, '|u1': Uint8Array, '<i2': Int16Array, '<u2': Uint16Array,
  '<i4': Int32Array, '<u4': Uint32Array, '<i8': BigInt64Array, '<u8': BigUint64Array,
  '<f2': Uint16Array, '<f4': Float32Array, '<f8': Float64Array,
} as const;

export type DType = keyof typeof ARRAY_TYPES;
export type TypedArray = InstanceType<(typeof ARRAY_TYPES)[DType]> | Uint8ClampedArray;

/** A numpy array's copy: its dtype (numpy's `dtype.str`, little-endian), shape, and data in C order. */
export class NDArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;

  constructor(dtype: DType, shape: readonly number[], data: TypedArray) {
    if (!(dtype in ARRAY_TYPES)) throw new TypeError(`pynwheel: NDArray dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(ARRAY_TYPES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) throw new TypeError('pynwheel: NDArray shape must be non-negative integers');
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new RangeError(`pynwheel: NDArray data has ${data.length} items, its shape ${count}`);
    this.dtype = dtype;
    this.shape = [...shape];
    this.data = data;
  }
}

/** A value the codec has no form for, and where it sits (`args[1].weights`). */
export class CallValueError extends TypeError {
  readonly code = 'EVALUE';
  readonly where: string;
  readonly valueType: string;
  constructor(where: string, valueType: string, why?: string) {
    super(`${where}: ${valueType}${why ? ` (${why})` : ''}`);
    this.name = 'CallValueError';
    this.where = where;
    this.valueType = valueType;
  }
}

export type Tree = null | boolean | number | string | Tree[] | { [key: string]: Tree };

export interface Encoded { tree: Tree; blobs: Uint8Array[] }

export function encodeValue(value: unknown, where: string): Encoded {
  const blobs: Uint8Array[] = [];
  return { tree: encode(value, where, blobs, 0), blobs };
}

function encode(v: unknown, where: string, blobs: Uint8Array[], depth: number): Tree {
  if (depth > 200) throw new CallValueError(where, typeName(v), 'nested too deeply, or a cycle');
  switch (typeof v) {
    case 'string': case 'boolean': return v;
    case 'undefined': return { [TAG]: 'undefined' };
    case 'number':
      if (Number.isFinite(v)) return Object.is(v, -0) ? { [TAG]: 'float', v: '-0' } : v;
      return { [TAG]: 'float', v: Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity' };
    case 'bigint':
      return v >= -Number.MAX_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : { [TAG]: 'bigint', v: v.toString() };
    case 'object': break;
    default: throw new CallValueError(where, typeName(v));
  }
  if (v === null) return null;
  if (Array.isArray(v)) {
    const out: Tree[] = [];
    for (let i = 0; i < v.length; i++) out.push(encode(v[i], `${where}[${i}]`, blobs, depth + 1));
    return out;
  }
  if (v instanceof NDArray) {
    blobs.push(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
    return { [TAG]: 'ndarray', dtype: v.dtype, shape: [...v.shape], b: blobs.length - 1 };
  }
  if (v instanceof Uint8Array && (v.constructor === Uint8Array || Buffer.isBuffer(v))) {
    blobs.push(v);
    return { [TAG]: 'bytes', b: blobs.length - 1 };
  }
  if (v instanceof ArrayBuffer) {
    blobs.push(new Uint8Array(v));
    return { [TAG]: 'bytes', b: blobs.length - 1 };
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const dtype = dtypeOf(v as TypedArray);
    if (dtype === null) throw new CallValueError(where, typeName(v));
    const view = v as TypedArray;
    blobs.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return { [TAG]: 'ndarray', dtype, shape: [view.length], b: blobs.length - 1 };
  }
  if (v instanceof Date) {
    const time = v.getTime();
    if (Number.isNaN(time)) throw new CallValueError(where, 'Invalid Date');
    return { [TAG]: 'date', v: time };
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw new CallValueError(where, typeName(v), 'only plain objects travel');
  const out: { [key: string]: Tree } = {};
  for (const [key, item] of Object.entries(v as object)) {
    out[key] = encode(item, /^[A-Za-z_$][\w$]*$/.test(key) ? `${where}.${key}` : `${where}[${JSON.stringify(key)}]`, blobs, depth + 1);
  }
  return TAG in out ? { [TAG]: 'object', v: out } : out;
}

function dtypeOf(view: TypedArray): DType | null {
  if (view instanceof Uint8ClampedArray) return '|u1';
  for (const [dtype, type] of Object.entries(ARRAY_TYPES)) {
    if (dtype !== '|b1' && dtype !== '<f2' && view.constructor === type) return dtype as DType;
  }
  return null;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'function') return `a function${v.name ? ` (${v.name})` : ''}`;
  if (typeof v === 'object') return `an object of class ${(v as object).constructor?.name ?? '(none)'}`;
  return `a ${typeof v}`;
}

/** The JavaScript value of a tree; `blobs` are the byte ranges its indexes name. */
export function decodeValue(tree: unknown, blobs: readonly Buffer[]): unknown {
  if (tree === null || typeof tree !== 'object') return tree;
  if (Array.isArray(tree)) return tree.map((item) => decodeValue(item, blobs));
  const t = tree as Record<string, unknown>;
  const tag = t[TAG];
  if (tag === undefined) return decodeObject(t, blobs);
  switch (tag) {
    case 'object': return decodeObject(t.v as Record<string, unknown>, blobs);
    case 'bytes': return blobs[t.b as number];
    case 'float': return ({ NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 } as Record<string, number>)[t.v as string];
    case 'bigint': return BigInt(t.v as string);
    case 'undefined': return undefined;
    case 'date': return new Date(t.v as number);
    case 'ndarray': {
      const dtype = t.dtype as DType;
      const type = ARRAY_TYPES[dtype];
      if (type === undefined) throw new TypeError(`pynwheel: unknown dtype ${String(dtype)} in a value`);
      const blob = blobs[t.b as number];
      const shape = t.shape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      // The blob starts at an aligned offset of its message's buffer: a view, not a copy.
      return new NDArray(dtype, shape, new type(blob.buffer as ArrayBuffer, blob.byteOffset, count));
    }
    default: throw new TypeError(`pynwheel: unknown value tag ${JSON.stringify(tag)}`);
  }
}

function decodeObject(t: Record<string, unknown>, blobs: readonly Buffer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(t)) out[key] = decodeValue(item, blobs);
  return out;
}
