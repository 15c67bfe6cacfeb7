// call(), bind(), iterate(): each codec type both ways (a 100 MB array too), against python run
// directly where it applies; each error kind; 200 calls at once; a crashing call beside working
// ones; an abandoned iterate(); async functions and generators; edits seen at the next call.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AbortError, bind, call, CallDiedError, CallTargetError, CallValueError, iterate, NDArray, PythonError, TimeoutError,
  type CallOptions,
} from '../dist/index';
import { collect, isAlive, makeSandbox, ROOT, sleep, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => {
  sb = makeSandbox('call');
  write(sb, 'funcs.py', [
    'import asyncio, os, signal, sys',
    'def add(a, b=1):',
    '    return a + b',
    'def echo(x):',
    '    return x',
    'def kinds(*args, **kwargs):',
    '    return [type(a).__name__ for a in args] + sorted("%s=%s" % (k, type(v).__name__) for k, v in kwargs.items())',
    'def name():',
    '    return [__name__, sys.modules["__main__"].__name__, sys.argv[0].endswith("funcs.py")]',
    'def noisy():',
    '    print("to stdout"); print("to stderr", file=sys.stderr)',
    '    return "value"',
    'def chained():',
    '    try:',
    '        {}["key"]',
    '    except KeyError as e:',
    '        raise ValueError("bad value", 42) from e',
    'def in_handler():',
    '    try:',
    '        1 / 0',
    '    except ZeroDivisionError:',
    '        raise RuntimeError("while handling")',
    'def leave(code):',
    '    sys.exit(code)',
    'def hard_exit():',
    '    os._exit(7)',
    'def fork_and_die():',
    '    if os.fork() == 0:',
    '        import time; time.sleep(1); os._exit(0)',
    '    os.kill(os.getpid(), signal.SIGKILL)',
    'def parent():',
    '    return [os.getppid(), __name__, sys.path[0] == os.path.dirname(os.path.abspath(__file__))]',
    'def kill_self():',
    '    os.kill(os.getpid(), signal.SIGKILL)',
    'def segfault():',
    '    import ctypes; ctypes.string_at(0)',
    'def unencodable():',
    '    return [1, 2, 3, {"weights": object()}]',
    'def span(s):',
    '    import time; start = time.time(); time.sleep(s); return [start, time.time()]',
    'def sleepy(s):',
    '    import time; time.sleep(s); return s',
    'async def doubled(x):',
    '    await asyncio.sleep(0.01)',
    '    return x * 2',
    'def squares(n):',
    '    for i in range(n):',
    '        yield i * i',
    'async def agen(n):',
    '    for i in range(n):',
    '        await asyncio.sleep(0)',
    '        yield {"i": i}',
    'def failing_gen():',
    '    yield 1',
    '    raise ValueError("in the generator")',
    'def counted(path):',
    '    try:',
    '        i = 0',
    '        while True:',
    '            with open(path, "w") as f: f.write(str(i))',
    '            yield i',
    '            i += 1',
    '    finally:',
    '        with open(path + ".closed", "w") as f: f.write("closed")',
    'class Thing:',
    '    @staticmethod',
    '    def make(n):',
    '        return ["thing"] * n',
    'def package():',
    '    import pynwheel',
    '    return [pynwheel.__name__, callable(pynwheel.futures.Executor), sys.path[1:]]',
    'not_callable = 5',
  ].join('\n') + '\n');
  write(sb, 'broken.py', 'import json\nraise ImportError("broken on purpose")\ndef f():\n    pass\n');
  write(sb, 'np_funcs.py', [
    'import numpy as np',
    'def describe(a):',
    '    return [str(a.dtype), list(a.shape), float(a.sum()), a.flags.writeable]',
    'def scale(a, k):',
    '    return a * k',
    'def make(n):',
    '    return np.arange(n, dtype=np.float64)',
    'def scalars():',
    '    return [np.float32(1.5), np.int64(-3), np.bool_(False), np.uint8(200)]',
    'def dtypes():',
    '    return [np.array([1, 2], dtype=d) for d in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "?")]',
    'def spin(n):',
    '    x = 0',
    '    for i in range(n): x += i',
    '    return x',
  ].join('\n') + '\n');
});
t.teardown(() => sb.cleanup());

const NUMPY_NAMES: Record<string, string> = {
  '|i1': 'int8', '|u1': 'uint8', '<i2': 'int16', '<u2': 'uint16', '<i4': 'int32', '<u4': 'uint32', '<i8': 'int64', '<u8': 'uint64',
  '<f2': 'float16', '<f4': 'float32', '<f8': 'float64', '|b1': 'bool',
};

const opts = (extra: CallOptions = {}): CallOptions => ({ cwd: sb.dir, env: sb.env, ...extra });

/** The function's value as python itself gives it, through json (for the differential checks). */
async function direct(module: string, fn: string, args: unknown[]): Promise<unknown> {
  const code = `import json, sys; import ${module} as m; print(json.dumps(m.${fn}(*json.loads(sys.argv[1]))))`;
  const out = await collect(path.join(sb.venv, 'bin', 'python'), ['-c', code, JSON.stringify(args)], { cwd: sb.dir, env: sb.env });
  return JSON.parse(out.stdout.toString());
}

t.test('differential: the same function called from Node and run by python directly', async (t) => {
  for (const [fn, args] of [['add', [2, 3]], ['add', ['a', 'b']], ['echo', [{ x: [1, 'two', null, true] }]], ['kinds', [1, 1.5, 'x', [1], {}, null]], ['Thing.make', [2]]] as const) {
    t.same(await call(`./funcs.py:${fn}`, [...args], opts()), await direct('funcs', fn, [...args]), `${fn}(${JSON.stringify(args)})`);
  }
  t.same(await call('json:loads', ['[1, {"a": 2}]'], opts()), [1, { a: 2 }], 'a module target');
  t.equal(await call('./funcs.py:add', [2], opts({ kwargs: { b: 40 } })), 42, 'kwargs');
});

t.test('every codec type both ways: the types Python sees, and the values that come back', async (t) => {
  const values = [null, true, 3, 2.5, 'héllo', [1, [2]], { a: { b: 1 } }, Buffer.from([0, 1, 255]), 2n ** 70n, -(2n ** 60n),
    NaN, Infinity, -Infinity, new Date(1700000000123)];
  t.same(await call('./funcs.py:kinds', values, opts({ kwargs: { u: undefined, n: 1n } })),
    ['NoneType', 'bool', 'int', 'float', 'str', 'list', 'dict', 'bytes', 'int', 'int', 'float', 'float', 'float', 'datetime', 'n=int', 'u=NoneType']);
  const back = (await call('./funcs.py:echo', [values], opts())) as unknown[];
  t.equal(back.length, values.length);
  t.same(back.slice(0, 7), values.slice(0, 7));
  t.ok(Buffer.isBuffer(back[7]) && (back[7] as Buffer).equals(values[7] as Buffer), 'bytes <-> Buffer');
  t.equal(back[8], 2n ** 70n, 'an integer beyond 2^53 is a BigInt');
  t.equal(back[9], -(2n ** 60n));
  t.ok(Number.isNaN(back[10]) && back[11] === Infinity && back[12] === -Infinity, 'NaN and the infinities');
  t.ok(back[13] instanceof Date && (back[13] as Date).getTime() === 1700000000123, 'Date <-> datetime');
  t.same(await call('./funcs.py:echo', [[1, 2]], opts()), [1, 2]);
  t.same(await call('./funcs.py:echo', [-0], opts()).then((v) => Object.is(v, -0)), true, '-0 stays -0');
});

t.test('numpy arrays both ways, every dtype, numpy scalars, and a 100 MB array', async (t) => {
  const a = new NDArray('<f8', [2, 3], new Float64Array([1, 2, 3, 4, 5, 6]));
  t.same(await call('./np_funcs.py:describe', [a], opts()), ['float64', [2, 3], 21, true], 'an NDArray argument is a writable numpy array');
  t.same(await call('./np_funcs.py:describe', [new Int32Array([1, 2, 3])], opts()), ['int32', [3], 6, true], 'a typed array argument');
  const scaled = (await call('./np_funcs.py:scale', [a, 2], opts())) as NDArray;
  t.type(scaled, NDArray);
  t.equal(scaled.dtype, '<f8');
  t.same(scaled.shape, [2, 3]);
  t.same([...scaled.data as Float64Array], [2, 4, 6, 8, 10, 12]);
  const dtypes = (await call('./np_funcs.py:dtypes', [], opts())) as NDArray[];
  t.same(dtypes.map((d) => d.dtype), ['|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '<f2', '<f4', '<f8', '|b1']);
  t.same(dtypes.map((d) => d.data.constructor.name), ['Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
    'BigInt64Array', 'BigUint64Array', 'Uint16Array', 'Float32Array', 'Float64Array', 'Uint8Array']);
  t.same([...dtypes[6].data as BigInt64Array], [1n, 2n]);
  for (const d of dtypes) {
    const [dtype, , sum] = (await call('./np_funcs.py:describe', [d], opts())) as [string, number[], number];
    t.same([dtype, sum], [NUMPY_NAMES[d.dtype], d.dtype === '|b1' ? 2 : 3], `${d.dtype} back to numpy`);
  }
  t.same(await call('./np_funcs.py:scalars', [], opts()), [1.5, -3, false, 200], 'numpy scalars are numbers');
  // 100 MB each way.
  const n = 100 * 1024 * 1024 / 8;
  const big = (await call('./np_funcs.py:make', [n], opts())) as NDArray;
  t.equal(big.data.length, n, '100 MB array from Python');
  t.equal((big.data as Float64Array)[n - 1], n - 1);
  (big.data as Float64Array)[0] = 0.5; // a private mapping of the call's memfd: writable, and ours alone
  t.equal((big.data as Float64Array)[0], 0.5);
  const summary = (await call('./np_funcs.py:describe', [big], opts())) as unknown[];
  t.same(summary.slice(0, 3), ['float64', [n], (n - 1) * n / 2 + 0.5], '100 MB array to Python');
});

t.test('a file target is imported as a module named after its stem, in the fork; an edit is seen at the next call', async (t) => {
  t.same(await call('./funcs.py:name', [], opts()), ['funcs', '__main__', true]);
  write(sb, 'edited.py', 'def v():\n    return 1\n');
  t.equal(await call('./edited.py:v', [], opts()), 1);
  await sleep(20); // a new mtime
  write(sb, 'edited.py', 'def v():\n    return 2\n');
  t.equal(await call('./edited.py:v', [], opts()), 2);
  t.equal(await call(path.join(sb.dir, 'edited.py') + ':v', [], opts({ cwd: '/' })), 2, 'an absolute path');
});

t.test('the function\'s own stdout and stderr are the call\'s stdio; the value never passes through them', async (t) => {
  const out = path.join(sb.dir, 'out.txt');
  const fd = fs.openSync(out, 'w');
  try {
    t.equal(await call('./funcs.py:noisy', [], opts({ stdio: ['ignore', fd, fd] })), 'value');
  } finally {
    fs.closeSync(fd);
  }
  // As under python: stdout to a file is block-buffered (written at exit), stderr is not.
  t.equal(fs.readFileSync(out, 'utf8'), 'to stderr\nto stdout\n');
});

t.test('async def is awaited; bind() makes an async function', async (t) => {
  t.equal(await call('./funcs.py:doubled', [21], opts()), 42);
  const add = bind('./funcs.py:add', opts());
  t.same(await Promise.all([add(1, 2), add(10)]), [3, 11]);
  t.throws(() => bind('no-colon'), TypeError);
});

t.test('an exception rejects with a PythonError filled from what the call sends', async (t) => {
  const err = await call('./funcs.py:chained', [], opts()).catch((e: unknown) => e) as PythonError;
  t.type(err, PythonError);
  t.equal(err.type, 'ValueError');
  t.equal(err.message, "ValueError: ('bad value', 42)");
  t.same(err.args, ['bad value', 42]);
  t.equal(err.traceback?.frames.at(-1)?.function, 'chained');
  t.equal(err.traceback?.frames.at(-1)?.source, 'raise ValueError("bad value", 42) from e');
  t.ok(err.traceback?.frames.every((f) => !f.file.includes('_pynwheel')), 'no frame of pynwheel\'s');
  t.match(err.formattedTraceback, /Traceback \(most recent call last\):[\s\S]*funcs\.py", line \d+, in chained[\s\S]*ValueError: \('bad value', 42\)/);
  t.match(err.stack, /Python traceback:\n\s+Traceback/);
  const cause = err.cause as PythonError;
  t.type(cause, PythonError);
  t.equal(cause.type, 'KeyError');
  t.same(cause.args, ['key']);
  const handled = await call('./funcs.py:in_handler', [], opts()).catch((e: unknown) => e) as PythonError;
  t.equal(handled.type, 'RuntimeError');
  t.equal(handled.context?.type, 'ZeroDivisionError', '__context__');
  t.equal(handled.cause, undefined);
  const json = await call('json:loads', ['{'], opts()).catch((e: unknown) => e) as PythonError;
  t.equal(json.type, 'json.decoder.JSONDecodeError', 'a qualified type');
});

t.test('SystemExit rejects with its code; a dying call with CallDiedError; a bad target with CallTargetError', async (t) => {
  const exit = await call('./funcs.py:leave', [3], opts()).catch((e: unknown) => e) as PythonError;
  t.type(exit, PythonError);
  t.equal(exit.type, 'SystemExit');
  t.equal(exit.exitCode, 3);
  for (const [fn, signal, code] of [['hard_exit', null, 7], ['kill_self', 'SIGKILL', null], ['segfault', 'SIGSEGV', null]] as const) {
    const died = await call(`./funcs.py:${fn}`, [], opts({ stdio: ['ignore', 'ignore', 'ignore'] })).catch((e: unknown) => e) as CallDiedError;
    t.type(died, CallDiedError, fn);
    t.equal(died.code, 'ECALLDIED');
    t.equal(died.signal, signal, `${fn}: its signal`);
    t.equal(died.exitCode, code, `${fn}: its status`);
  }
  // A process the function forked holds the channel open: the call's death is still its outcome.
  const forked = await call('./funcs.py:fork_and_die', [], opts()).catch((e: unknown) => e) as CallDiedError;
  t.type(forked, CallDiedError);
  t.equal(forked.signal, 'SIGKILL');
  const cases = [
    ['./funcs.py:missing', 'ENOTARGET', /has no attribute 'missing'/],
    ['./nofile.py:f', 'ENOTARGET', /nofile\.py/],
    ['no_such_module_x:f', 'ENOTARGET', /no module named 'no_such_module_x'/],
    ['./funcs.py:not_callable', 'ENOTCALLABLE', /not callable/],
    ['./broken.py:f', 'EIMPORT', /broken on purpose/],
  ] as const;
  for (const [target, code, message] of cases) {
    const err = await call(target, [], opts()).catch((e: unknown) => e) as CallTargetError;
    t.type(err, CallTargetError, target);
    t.equal(err.code, code, target);
    t.match(err.message, message);
  }
  const imported = await call('./broken.py:f', [], opts()).catch((e: unknown) => e) as CallTargetError;
  t.equal((imported.cause as PythonError).type, 'ImportError', 'the import\'s exception is the cause');
  await t.rejects(call('bad target', [], opts()), TypeError);
  const fds = fs.readdirSync('/proc/self/fd').length;
  await t.rejects(call('./funcs.py:add', [1], opts({ cwd: 5 as unknown as string })), TypeError);
  await t.rejects(call('./funcs.py:add', [Buffer.alloc(10)], opts({ stdio: 'bad' as never })), TypeError);
  t.equal(fs.readdirSync('/proc/self/fd').length, fds, 'bad options leave no fd open');
});

t.test('a value that cannot be encoded names its type and where it sits', async (t) => {
  const err = await call('./funcs.py:unencodable', [], opts()).catch((e: unknown) => e) as CallValueError;
  t.type(err, CallValueError);
  t.equal(err.where, 'result[3].weights');
  t.match(err.message, "result[3].weights: <class 'object'>");
  const arg = await call('./funcs.py:echo', [{ f: () => 1 }], opts()).catch((e: unknown) => e) as CallValueError;
  t.type(arg, CallValueError);
  t.equal(arg.where, 'args[0].f');
});

t.test('where a run would be python\'s own (PYNWHEEL_DISABLE=1, python\'s own flags), a call is too', async (t) => {
  const env = { ...sb.env, PYNWHEEL_DISABLE: '1' };
  t.same(await call('./funcs.py:parent', [], opts({ env })), [process.pid, 'funcs', true], 'python is this process\'s child');
  t.same(await call('./funcs.py:echo', [[Buffer.from('ab'), 2n ** 64n]], opts({ env })), [Buffer.from('ab'), 2n ** 64n]);
  const err = await call('./funcs.py:chained', [], opts({ env })).catch((e: unknown) => e) as PythonError;
  t.equal(err.type, 'ValueError');
  t.ok(err.traceback?.frames.every((f) => !f.file.includes('_pynwheel') && f.file !== '<string>'), 'no frame of pynwheel\'s');
  t.type(await call('./funcs.py:kill_self', [], opts({ env })).catch((e: unknown) => e), CallDiedError);
  t.equal((await call('./funcs.py:parent', [], opts({ pythonOptions: ['-I'] })) as unknown[])[0], process.pid, '-I has no variable: python itself');
  const warm = await call('./funcs.py:package', [], opts());
  t.same((warm as unknown[]).slice(0, 2), ['pynwheel', true], 'import pynwheel in a warm call');
  t.same(await call('./funcs.py:package', [], opts({ env })), warm, 'and in a call python runs itself, with the same sys.path');
  const items: unknown[] = [];
  for await (const v of iterate('./funcs.py:squares', [3], opts({ env }))) items.push(v);
  t.same(items, [0, 1, 4]);
});

t.test('timeout and AbortSignal as in run()', async (t) => {
  await t.rejects(call('./funcs.py:sleepy', [30], opts({ timeout: 300 })), TimeoutError);
  const controller = new AbortController();
  const pending = call('./funcs.py:sleepy', [30], opts({ signal: controller.signal }));
  setTimeout(() => controller.abort(), 300);
  await t.rejects(pending, AbortError);
});

t.test('200 calls at once, each with its own value; a crashing call beside working ones', async (t) => {
  const many = await Promise.all(Array.from({ length: 200 }, (_, i) => call('./funcs.py:add', [i, 1000], opts())));
  t.same(many, Array.from({ length: 200 }, (_, i) => i + 1000));
  const mixed = await Promise.allSettled([
    call('./funcs.py:sleepy', [0.3], opts()),
    call('./funcs.py:kill_self', [], opts()),
    call('./funcs.py:add', [1, 2], opts()),
    call('./funcs.py:segfault', [], opts({ stdio: ['ignore', 'ignore', 'ignore'] })),
    call('./funcs.py:sleepy', [0.2], opts()),
  ]);
  t.same(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
  t.same(mixed.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<unknown>).value), [0.3, 3, 0.2]);
  t.type((mixed[1] as PromiseRejectedResult).reason, CallDiedError);
});

t.test('concurrency queues the calls beyond it', async (t) => {
  // With concurrency 1 no two functions run at the same time; with 3 all three do.
  const spans = (await Promise.all([0, 1, 2].map(() => call('./funcs.py:span', [0.2], opts({ concurrency: 1 }))))) as Array<[number, number]>;
  spans.sort((a, b) => a[0] - b[0]);
  t.ok(spans[0][1] <= spans[1][0] && spans[1][1] <= spans[2][0], 'one at a time: each began after the last ended');
  const together = (await Promise.all([0, 1, 2].map(() => call('./funcs.py:span', [0.5], opts({ concurrency: 3 }))))) as Array<[number, number]>;
  t.ok(Math.max(...together.map((s) => s[0])) < Math.min(...together.map((s) => s[1])), 'three at once: all were running at one moment');
  await t.rejects(call('./funcs.py:add', [1], opts({ concurrency: 0 })), RangeError);
});

t.test('iterate(): generators and async generators, values as they come; an error ends the loop', async (t) => {
  const got: unknown[] = [];
  for await (const v of iterate('./funcs.py:squares', [5], opts())) got.push(v);
  t.same(got, [0, 1, 4, 9, 16]);
  const items: unknown[] = [];
  for await (const v of iterate('./funcs.py:agen', [3], opts())) items.push(v);
  t.same(items, [{ i: 0 }, { i: 1 }, { i: 2 }]);
  const seen: unknown[] = [];
  const err = await (async () => { for await (const v of iterate('./funcs.py:failing_gen', [], opts())) seen.push(v); })().catch((e: unknown) => e) as PythonError;
  t.same(seen, [1]);
  t.equal(err.type, 'ValueError');
});

t.test('iterate(): the producer waits for a reader that does not read; leaving the loop ends the call', async (t) => {
  const counter = path.join(sb.dir, 'count.txt');
  const it = iterate('./funcs.py:counted', [counter], opts());
  const first = await it.next();
  t.same(first, { value: 0, done: false });
  await sleep(400);
  t.equal(fs.readFileSync(counter, 'utf8'), '0', 'nothing produced while Node does not read');
  t.equal((await it.next()).value, 1);
  await it.return(undefined); // as `break` does
  t.equal(fs.readFileSync(counter + '.closed', 'utf8'), 'closed', 'the generator was closed (its finally ran)');
  for await (const v of iterate('./funcs.py:counted', [counter], opts())) {
    if (v === 2) break;
  }
  t.equal(fs.readFileSync(counter, 'utf8'), '2', 'break: no value after the last one read');
});

t.test('examples/call.js, the README\'s example, prints what it says', async (t) => {
  const out = await collect(process.execPath, [path.join(ROOT, 'examples', 'call.js')], {
    cwd: sb.dir, env: { ...sb.env, PYNWHEEL_PYTHON: path.join(sb.venv, 'bin', 'python') },
  });
  t.equal(out.stderr.toString(), '');
  t.equal(out.stdout.toString(), [
    'total: 29.4', 'scores: <f8 [ 2 ] [ 1.4, 3.2 ]', "step: { left: 3 }", "step: { left: 2 }", "step: { left: 1 }",
    'error: json.decoder.JSONDecodeError decoder.py', '',
  ].join('\n'));
  t.equal(out.status, 0);
});

t.test('8 calls at once run each in its own fork, and none outlives its promise', async (t) => {
  // The pids of the calls that run at once differ: each is a fork of its own. A call settles once
  // its exit steps are done (threads joined, atexit run, stdio flushed): no code of its runs after,
  // and its process, which only has its _exit left, is gone a moment later.
  write(sb, 'pid.py', [
    'import atexit, os, threading, time',
    'def pid(mark):',
    '    def late():',
    '        time.sleep(0.3)',
    '        open(mark + ".thread", "w").close()',
    '    threading.Thread(target=late).start()',
    '    atexit.register(lambda: open(mark + ".atexit", "w").close())',
    '    time.sleep(0.2)',
    '    return os.getpid()',
  ].join('\n') + '\n');
  const marks = Array.from({ length: 8 }, (_, i) => path.join(sb.dir, `mark${i}`));
  const pids = await Promise.all(marks.map((mark) => call('./pid.py:pid', [mark], opts({ concurrency: 8 }))));
  t.equal(new Set(pids).size, 8);
  t.ok(marks.every((m) => fs.existsSync(m + '.thread') && fs.existsSync(m + '.atexit')), 'its threads were joined and its atexit ran before the promise settled');
  for (const p of pids) {
    for (let i = 0; i < 200 && isAlive(p as number); i++) await sleep(10);
    t.notOk(isAlive(p as number), 'the call\'s process is gone');
  }
});
