// The run's environment is the caller's, in the caller's order, in os.environ and in the C
// environment that child processes inherit: differential against python3 for environments
// that match the zygote's, extend it, reorder it, or leave parts of it out. Spares build the C
// environment of the daemon's last run ahead (the first case here): a run with its names in its
// order only installs it, and sets the values that differ.
import t from 'tap';
import * as path from 'node:path';
import { collect, makeSandbox, view, write, CLI, ROOT, type Sandbox } from './helpers';

// The runner itself: the checkout's sh shim would pass the environment on in sh's own order.
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');

/** `command args` with exactly `env`, in its order (env -i: nothing added by the test runner). */
const exactly = (env: NodeJS.ProcessEnv, command: string, args: string[]) =>
  collect('/usr/bin/env', ['-i', ...Object.entries(env).map(([name, value]) => `${name}=${value}`), command, ...args], { cwd: sb.dir, env: {} });

let sb: Sandbox;
t.before(() => { sb = makeSandbox('environment'); });
t.teardown(() => sb.cleanup());

t.test('os.environ, os.environb and the C environment as python has them', async (t) => {
  write(sb, 'environment.py', [
    'import os, subprocess',
    'print(list(os.environ.items()))',
    'print(list(os.environb.items()) == [(k.encode(), v.encode()) for k, v in os.environ.items()])',
    '# What a child process inherits: the C environment, in its order.',
    'print(subprocess.run(["/usr/bin/env", "-0"], capture_output=True).stdout)',
    'os.environ["PNW_SET_BY_SCRIPT"] = "1"',
    'del os.environ["HOME"]',
    'print(subprocess.run(["/usr/bin/env", "-0"], capture_output=True).stdout)',
  ].join('\n') + '\n');
  // The first run starts the zygote with this sandbox's environment.
  const first = sb.env;
  const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`PNW_MANY_${i}`, `välue ${i} ✓ =${'x'.repeat(i % 50)}`]));
  const without = (name: string) => Object.fromEntries(Object.entries(first).filter(([k]) => k !== name));
  const cases: Record<string, NodeJS.ProcessEnv> = {
    'the zygote\'s own': first,
    'a value changed in place': { ...first, HOME: '/tmp' },
    'every value changed in place (the names kept)': Object.fromEntries(Object.entries(first).map(([name, value]) =>
      [name, /^(PATH|LANG|LC_\w+|PYTHON\w*|PYNWHEEL_\w+)$/.test(name) ? value : `${value}·`])),
    'names added after': { ...first, PNW_AFTER: 'a', PNW_EMPTY: '' },
    'a name added first': { PNW_FIRST: 'first', ...first },
    'a name left out': without('HOME'),
    'in reverse': Object.fromEntries(Object.entries(first).reverse()),
    '300 more in the middle': { PATH: first.PATH, ...many, ...first },
    'the zygote\'s own again': first,
  };
  for (const [name, env] of Object.entries(cases)) {
    const py = await exactly(env, path.join(sb.venv, 'bin', 'python3'), ['environment.py']);
    const runner = await exactly(env, RUNNER, ['run', 'environment.py']);
    t.same(view(runner), view(py), `${name}: through the runner`);
    const node = await exactly(env, process.execPath, [CLI, 'run', 'environment.py']);
    t.same(view(node), view(py), `${name}: through the Node CLI`);
  }
});
