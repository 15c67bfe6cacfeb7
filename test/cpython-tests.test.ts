// Code we did not write: CPython's own regression tests (the interpreter's `test` package), run
// with python3 and through pynwheel (the native runner, and the Node CLI), must have the same
// outcome test for test (ok, skip, fail, error, by test id).
//
// Chosen by time (the suite's budget; measured on the 2-core test machine with 3.11): all of
// test_argparse, test_json and test_os (~4 s); test_signal without SiginterruptTest (34 s:
// it sleeps) and ItimerTest (4 s, timers); test_subprocess's POSIX, run() and misc cases (the
// generic ProcessTestCase twice over, polling and not, adds 16 s and tests nothing POSIX does not).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, FIXTURES, ROOT, collect, makeSandbox, type Sandbox } from './helpers';

t.setTimeout(600_000);
const RUNNER = path.join(ROOT, 'bin', 'pynwheel');
const DRIVER = path.join(FIXTURES, 'cpython_tests.py');
let sb: Sandbox;
t.before(() => { sb = makeSandbox('cpython'); });
t.teardown(async () => { await sb.cleanup(); });

const GROUPS: Array<{ name: string; tests: string[]; through: Array<'runner' | 'cli'> }> = [
  { name: 'test_argparse, test_json, test_os', tests: ['test.test_argparse', 'test.test_json', 'test.test_os'], through: ['runner', 'cli'] },
  {
    name: 'test_signal',
    tests: ['GenericTests', 'PosixTests', 'WakeupFDTests', 'WakeupSignalTests', 'WakeupSocketSignalTests', 'StressTest',
      'RaiseSignalTest', 'PidfdSignalTest', 'PendingSignalsTests'].map((c) => `test.test_signal.${c}`),
    through: ['runner'],
  },
  {
    name: 'test_subprocess',
    tests: ['POSIXProcessTestCase', 'RunFuncTestCase', 'ContextManagerTests', 'MiscTests', 'CommandsWithSpaces'].map((c) => `test.test_subprocess.${c}`),
    through: ['runner'],
  },
];

interface Report { outcomes: Record<string, string>; details: Record<string, string> }

function hasTestPackage(): boolean {
  return spawnSync(path.join(sb.venv, 'bin', 'python3'), ['-c', 'import test.support, test.test_argparse'], { stdio: 'ignore' }).status === 0;
}

async function outcomes(how: 'python' | 'runner' | 'cli', tests: string[], label: string): Promise<{ report: Report; status: number | null; stderr: string }> {
  const output = path.join(sb.dir, `${label}-${how}.json`);
  fs.rmSync(output, { force: true });
  const args = [DRIVER, output, ...tests];
  const [command, argv] = how === 'python' ? ['python3', args] : how === 'runner' ? [RUNNER, ['run', ...args]] : [process.execPath, [CLI, 'run', ...args]];
  const r = await collect(command, argv, { cwd: sb.dir, env: sb.env, timeoutMs: 240_000 });
  const report = fs.existsSync(output) ? JSON.parse(fs.readFileSync(output, 'utf8')) as Report : { outcomes: {}, details: {} };
  return { report, status: r.status, stderr: r.stderr.toString() };
}

t.test('the interpreter has its regression tests', async (t) => {
  t.ok(hasTestPackage(), `${sb.venv}'s python has the test package (a pyenv or python.org build; a distribution may package it apart)`);
});

for (const [index, group] of GROUPS.entries()) {
  t.test(`CPython's ${group.name}: the same outcome for each test under pynwheel as under python`, async (t) => {
    if (!hasTestPackage()) return t.fail('no test package in the interpreter (see the first test)');
    const py = await outcomes('python', group.tests, `g${index}`);
    const ids = Object.keys(py.report.outcomes);
    t.ok(ids.length >= 20, `python ran ${ids.length} tests (status ${py.status})`);
    for (const how of group.through) {
      const pnw = await outcomes(how, group.tests, `g${index}`);
      const differ = [...new Set([...ids, ...Object.keys(pnw.report.outcomes)])].sort()
        .filter((id) => py.report.outcomes[id] !== pnw.report.outcomes[id])
        .map((id) => `${id}: python ${py.report.outcomes[id] ?? '(not run)'}, pynwheel ${pnw.report.outcomes[id] ?? '(not run)'}` +
          `${pnw.report.details[id] ? `\n${pnw.report.details[id]}` : ''}`);
      t.same(differ, [], `through the ${how === 'cli' ? 'Node CLI' : 'native runner'}: ${Object.keys(pnw.report.outcomes).length} tests, every outcome as under python`);
      t.equal(pnw.status, py.status, 'and the same exit status');
    }
  });
}
