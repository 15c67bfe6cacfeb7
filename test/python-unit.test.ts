// The zygote package's unit tests (test/python/test_*.py, standard library unittest): its pure
// functions (import scanning, exit status, stdio streams, request checks, frames) and the shared
// vectors through its own code. Run under the test venv's python, and under the oldest and the
// newest CPython the project supports (3.9+) that pyenv has on this machine.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collect, ROOT, testVenv } from './helpers';

const SUPPORTED = [3, 9];

/** pyenv's CPythons of a supported version: [oldest, newest] (one, or none, if fewer). */
function pyenvPythons(): string[] {
  const root = process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  let names: string[];
  try { names = fs.readdirSync(path.join(root, 'versions')); } catch { return []; }
  const versions = names.map((name) => ({ name, parts: name.split('.').map(Number) }))
    .filter(({ name, parts }) => /^\d+\.\d+\.\d+$/.test(name) && (parts[0] > SUPPORTED[0] || (parts[0] === SUPPORTED[0] && parts[1] >= SUPPORTED[1])) &&
      fs.existsSync(path.join(root, 'versions', name, 'bin', 'python3')))
    .sort((a, b) => a.parts[0] - b.parts[0] || a.parts[1] - b.parts[1] || a.parts[2] - b.parts[2]);
  const chosen = [...new Set([versions[0], versions[versions.length - 1]].filter(Boolean).map((v) => v.name))];
  return chosen.map((name) => path.join(root, 'versions', name, 'bin', 'python3'));
}

const pythons = [path.join(testVenv(), 'bin', 'python3'), ...pyenvPythons()];

for (const python of pythons) {
  t.test(`python -m unittest under ${python}`, async (t) => {
    const env = { ...process.env, PYTHONPATH: path.join(ROOT, 'python'), PYTHONDONTWRITEBYTECODE: '1' };
    delete env.PYTHONSAFEPATH;
    const { stdout, stderr, status } = await collect(python, ['-m', 'unittest', 'discover', '-s', path.join(ROOT, 'test', 'python'), '-v'],
      { cwd: ROOT, env });
    const report = stderr.toString();
    const ran = Number(/^Ran (\d+) tests? in /m.exec(report)?.[1] ?? 0);
    if (status !== 0) t.comment(report + stdout.toString());
    t.equal(status, 0, `every unit test passed (${ran} ran)`);
    t.ok(ran >= 50, `the unit tests ran (${ran})`);
    t.match(report, /^OK$/m, 'unittest says OK');
  });
}
