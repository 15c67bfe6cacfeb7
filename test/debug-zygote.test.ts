// PYNWHEEL_DEBUG=1 in the zygote and its spares (python/_pynwheel/debug.py): in daemon.log, the
// zygote says it relayed the daemon's run, the spare that took it says so, a spare that takes a
// run by the lane or declines one says so, with the decline's code. None of it reaches a run's
// output, which stays python's (a spare writes before it takes the run's stdio).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, makeSandbox, python, view, write, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('debug-zygote', { cold: true }); });
t.teardown(() => sb.cleanup());

const runner = (args: string[], env: Record<string, string> = {}) => collect(SHIM, ['run', ...args], { cwd: sb.dir, env: { ...sb.env, ...env } });
const logLines = (who: string) => fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8').split('\n')
  .filter((line) => line.startsWith(`pynwheel debug: ${who}: `));

t.test('the zygote and its spares say which path each run took, in daemon.log only', async (t) => {
  write(sb, 'z.py', 'import sys\nprint("out")\nprint("err", file=sys.stderr)\n');
  const py = view(await python(sb, ['z.py']));
  const DEBUG = { PYNWHEEL_DEBUG: '1' };
  // The base zygote warm first (no route for z.py yet): else the first run is a cold one, python's own.
  t.equal((await collect(process.execPath, [path.join(ROOT, 'bin', 'pynwheel.js'), 'warm', '--packages', 'os'], { cwd: sb.dir, env: sb.env })).status, 0, 'warmed');
  // The first through the daemon (the Node CLI asks it for a script it has no route for; the
  // native runner would take the family's lane), the second by the lane, the third declined.
  const viaDaemon = await collect(process.execPath, [path.join(ROOT, 'bin', 'pynwheel.js'), 'run', 'z.py'], { cwd: sb.dir, env: { ...sb.env, ...DEBUG } });
  const runs = [viaDaemon, await runner(['z.py'], DEBUG), await runner(['z.py'], { ...DEBUG, OMP_NUM_THREADS: '5' })];
  for (const [i, r] of runs.entries()) {
    t.equal(r.stdout.toString(), py.stdout, `run ${i + 1}: python's stdout`);
    t.notMatch(r.stderr.toString(), /pynwheel debug: (zygote|spare):/, `run ${i + 1}: no zygote or spare line on its stderr`);
    t.match(r.stderr.toString(), /(^|\n)err\n/, `run ${i + 1}: the script's stderr`);
  }
  const zygote = logLines('zygote');
  const spare = logLines('spare');
  t.ok(zygote.some((line) => /^pynwheel debug: zygote: run \d+ relayed to a spare/.test(line)), `the zygote relayed the first run (${zygote.join(' | ')})`);
  t.ok(spare.some((line) => /^pynwheel debug: spare: daemon run \d+ taken \(pid \d+, .*z\.py\)$/.test(line)), 'a spare took it');
  t.ok(spare.some((line) => /^pynwheel debug: spare: lane taken \(pid \d+, .*z\.py\)$/.test(line)), 'the second came by the lane');
  t.ok(spare.some((line) => /^pynwheel debug: spare: lane declined: other-key-env \(.+\); the client asks the daemon$/.test(line)),
    'the third was declined: another value of a key variable');

  const before = logLines('spare').length + logLines('zygote').length;
  t.same(view(await runner(['z.py'])), py, 'without the variable: python\'s output');
  t.equal(logLines('spare').length + logLines('zygote').length, before, 'and no line in daemon.log');
});
