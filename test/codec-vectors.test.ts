// The call() value codec (lib/api/codec.ts) on the shared vectors, test/vectors/values.json
// (test/python/test_codec.py checks the same vectors from Python), and its errors.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CallValueError, NDArray } from '../dist/index';
import { decodeValue, encodeValue } from '../dist/api/codec';

interface ValueVector { name: string; tree: unknown; blobs: string[]; js: string; oneWay?: 'toJs' | 'toPython' }
const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, 'vectors', 'values.json'), 'utf8')) as { values: ValueVector[] };

/** Equal as values, kind for kind: NaN is NaN, -0 is not 0, arrays by dtype, shape and data. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (typeof a !== typeof b) return false;
  if (a === null || typeof a !== 'object') return a === b;
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof NDArray) {
    return b instanceof NDArray && a.dtype === b.dtype && same([...a.shape], [...b.shape]) &&
      a.data.constructor === b.data.constructor && same([...a.data as Iterable<unknown>], [...b.data as Iterable<unknown>]);
  }
  if (ArrayBuffer.isView(a)) return ArrayBuffer.isView(b) && a.constructor === b.constructor && same([...a as unknown as Iterable<unknown>], [...b as unknown as Iterable<unknown>]);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  const ka = Object.keys(a as object), kb = Object.keys(b as object);
  return same(ka, kb) && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

t.test('values.json: every vector encodes to its tree and blobs, and decodes to its value', async (t) => {
  let checked = 0;
  for (const v of vectors.values) {
    const value: unknown = new Function('NDArray', `return (${v.js});`)(NDArray);
    const blobs = v.blobs.map((hex) => Buffer.from(hex, 'hex'));
    if (v.oneWay !== 'toJs') {
      const encoded = encodeValue(value, 'args');
      t.same(encoded.tree, v.tree, `${v.name}: the tree`);
      t.same(encoded.blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')), v.blobs, `${v.name}: the blobs`);
    }
    if (v.oneWay !== 'toPython') {
      // Each blob at an aligned offset of one buffer, as a value's memfd gives them.
      const memory = Buffer.alloc(blobs.length * 64);
      const placed = blobs.map((b, i) => { b.copy(memory, i * 64); return memory.subarray(i * 64, i * 64 + b.length); });
      t.ok(same(decodeValue(v.tree, placed), value), `${v.name}: decoded`);
    }
    checked++;
  }
  t.equal(checked, vectors.values.length);
});

t.test('a value the codec has no form for names its place and its type', async (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [[1, { f: () => 1 }], 'args[1].f', /a function/],
    [{ 'a b': Symbol('s') }, 'args["a b"]', /a symbol/],
    [[new Map()], 'args[0]', /class Map/],
    [new Date(NaN), 'args', /Invalid Date/],
  ];
  for (const [value, where, type] of cases) {
    const err = (() => { try { encodeValue(value, 'args'); return null; } catch (e) { return e as CallValueError; } })();
    t.type(err, CallValueError);
    t.equal(err?.where, where);
    t.match(err?.message, type);
    t.equal(err?.code, 'EVALUE');
  }
  const cycle: unknown[] = [];
  cycle.push(cycle);
  t.throws(() => encodeValue(cycle, 'args'), CallValueError);
});

t.test('NDArray checks its shape against its data', async (t) => {
  t.throws(() => new NDArray('<f8', [2, 2], new Float64Array(3)), RangeError);
  t.throws(() => new NDArray('<c16' as never, [1], new Float64Array(1)), TypeError);
  t.equal(new NDArray('<f8', [2, 1], new Float64Array(2)).shape.length, 2);
});
