// The zygote's gc.freeze() does not show in a run: what the collector tracks, what gc.get_objects
// and gc.get_referrers see and gc.get_freeze_count() are python's. Differential, through the
// Node CLI and the native runner (bin/pynwheel).
import t from 'tap';
import * as path from 'node:path';
import { collect, makeSandbox, pynwheel, python, view, write, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('gc-freeze'); });
t.teardown(() => sb.cleanup());

const SCRIPTS: Record<string, string> = {
  // The script's own constants: tracked until a collection untracks them (CPython's test_dict
  // test_track_literals, run as a file).
  'tracked.py': [
    'import gc',
    'z = (1, None)',
    't = ("a", (2, 3), frozenset({1}))',
    'def f(a=(4, 5)):',
    '    return (a, "x")',
    'print(gc.is_tracked(z), gc.is_tracked(t), gc.is_tracked(f.__defaults__))',
    'gc.collect()',
    'print(gc.is_tracked(z), gc.is_tracked(t), gc.is_tracked(f.__defaults__))',
    'x, y, w = 1.5, "a", []',
    'd = {x: (), y: x, z: 1}',
    'gc.collect(); gc.collect()',
    'print(gc.is_tracked(d), gc.is_tracked({1: []}), gc.is_tracked({1: 2, (None, True, False, ()): int}))',
    '',
  ].join('\n'),
  // What the zygote imported (json, preloaded) is seen by the collector's tools, and nothing is
  // frozen until the script freezes.
  'visible.py': [
    'import gc, json',
    'print(gc.get_freeze_count())',
    'print(len([o for o in gc.get_referrers(json.dumps) if o is json.__dict__]))',
    'print(any(o is json.JSONDecoder for o in gc.get_objects()))',
    'print(gc.get_freeze_count())',
    'gc.freeze(); print(gc.get_freeze_count() > 1000); gc.unfreeze(); print(gc.get_freeze_count())',
    '',
  ].join('\n'),
  'count.py': 'import gc\nprint(gc.get_freeze_count())\ngc.collect()\nprint(gc.get_freeze_count())\n',
};

t.test('gc state as under python: through the Node CLI and the runner', async (t) => {
  for (const [name, source] of Object.entries(SCRIPTS)) write(sb, name, source);
  for (const name of Object.keys(SCRIPTS)) {
    const py = await python(sb, [name]);
    t.equal(py.status, 0, `${name}: python runs it`);
    // Twice each: the first run goes through the daemon, the next ones take the lane.
    for (const round of [1, 2, 3]) {
      t.same(view(await pynwheel(sb, ['run', name])), view(py), `${name}: the Node CLI, run ${round}`);
      t.same(view(await collect(SHIM, ['run', name], { cwd: sb.dir, env: sb.env })), view(py), `${name}: the runner, run ${round}`);
    }
  }
});
