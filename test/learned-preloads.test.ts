// Learned preloads (python/_pynwheel/learn.py): modules a script imports lazily, inside a
// function, are imported by its zygote after two runs did; never a module of the script's own
// directory, never a package of another family; the runs' output stays python's.
import t from 'tap';
import { daemonStatus, makeSandbox, pynwheel, python, sleep, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('learn'); });
t.teardown(() => sb.cleanup());

type Z = { pid: number; key: { family: string[] }; preloaded: string[]; learned: string[]; notLearned: Record<string, string> };
const zygote = async (family: string): Promise<Z | undefined> =>
  ((await daemonStatus(sb)).zygotes as Z[]).find((z) => z.key.family.join() === family);

/** Until the zygote has learned `name` (it learns as it reaps the run: just after the run's end). */
async function learned(family: string, name: string): Promise<Z | undefined> {
  let z: Z | undefined;
  for (let i = 0; i < 100; i++) {
    z = await zygote(family);
    if (z?.learned.includes(name)) return z;
    await sleep(30);
  }
  return z;
}

t.test('a stdlib module imported inside a function is learned after two runs; the script\'s own is not', async (t) => {
  write(sb, 'lazy/helper_mod.py', 'VALUE = 7\n');
  write(sb, 'lazy/main.py', [
    'import sys',
    'def work():',
    '    import fractions, helper_mod',
    '    return fractions.Fraction(1, 3) + helper_mod.VALUE',
    'print(work())',
    'print("helper_mod" in sys.modules)',
    ''].join('\n'));
  const py = view(await python(sb, ['lazy/main.py']));
  t.same(view(await pynwheel(sb, ['run', 'lazy/main.py'])), py, 'the first run is python\'s');
  t.notOk((await zygote(''))?.learned.includes('fractions'), 'one run is not enough');
  t.same(view(await pynwheel(sb, ['run', 'lazy/main.py'])), py, 'the second run too');
  const z = await learned('', 'fractions');
  t.ok(z?.learned.includes('fractions'), `the zygote learned fractions (${JSON.stringify(z?.learned)})`);
  t.ok(z?.preloaded.includes('fractions'), 'and has it preloaded');
  t.notOk(z?.learned.includes('helper_mod') || z?.preloaded.includes('helper_mod'), 'never the script\'s own module');
  await sleep(300); // the spares renewed after the import
  for (let i = 0; i < 2; i++) t.same(view(await pynwheel(sb, ['run', 'lazy/main.py'])), py, 'runs after it: python\'s output');
  t.match((await pynwheel(sb, ['status'])).stdout.toString(), /learned from its runs: .*fractions/, 'status lists it');
});

t.test('a module of the script\'s directory named as a stdlib one (shadowing it) is never learned', async (t) => {
  write(sb, 'shadow/colorsys.py', 'NAME = "mine"\n');
  write(sb, 'shadow/main.py', 'def f():\n    import colorsys\n    return getattr(colorsys, "NAME", "stdlib")\nprint(f())\n');
  for (let i = 0; i < 3; i++) t.equal((await pynwheel(sb, ['run', 'shadow/main.py'])).stdout.toString(), 'mine\n');
  await sleep(200);
  const z = await zygote('');
  t.notOk(z?.learned.includes('colorsys'), 'colorsys is not learned from runs that imported their own');
});

t.test('a submodule of the family\'s package is learned; a package of another family is not', async (t) => {
  write(sb, 'np_lazy.py', 'import numpy\ndef f():\n    import numpy.random\n    return int(numpy.random.default_rng(3).integers(100))\nprint(f())\n');
  write(sb, 'plain_lazy.py', 'import sys\ndef f():\n    import numpy\n    return int(numpy.arange(3).sum())\nprint(f(), "x")\n');
  const pyNp = view(await python(sb, ['np_lazy.py']));
  const pyPlain = view(await python(sb, ['plain_lazy.py']));
  for (let i = 0; i < 3; i++) {
    t.same(view(await pynwheel(sb, ['run', 'np_lazy.py'])), pyNp, 'numpy.random\'s run: python\'s output');
    t.same(view(await pynwheel(sb, ['run', 'plain_lazy.py'])), pyPlain, 'the plain script\'s: python\'s output');
  }
  const z = await learned('numpy', 'numpy.random');
  t.ok(z?.learned.includes('numpy.random'), `numpy's zygote learned numpy.random (${JSON.stringify(z?.learned)})`);
  await sleep(200);
  const base = await zygote('');
  t.notOk(base?.preloaded.includes('numpy'), 'the base zygote never imports numpy, though its runs did');
  t.same(view(await pynwheel(sb, ['run', 'np_lazy.py'])), pyNp, 'a run after the learning: python\'s output');
});
