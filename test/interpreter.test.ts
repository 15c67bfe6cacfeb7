// Which python a run uses (lib/client/interpreter.ts), on real files in a scratch directory:
// --python, PYNWHEEL_PYTHON, the active venv, then python3 on PATH, as python3 would be found.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findOnPath, resolveInterpreter as resolveFully } from '../lib/client/interpreter';

/** The interpreter's path and argv0 (`how` is for status and doctor). */
const resolveInterpreter = (...args: Parameters<typeof resolveFully>) => {
  const { path: file, argv0 } = resolveFully(...args);
  return { path: file, argv0 };
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-interpreter-'));
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

/** An executable file (or, with mode 0o644, one that is not executable). */
function exe(relative: string, mode = 0o755): string {
  const file = path.join(root, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '\x7fELF', { mode }); // a binary: a script would be a shim (version-managers.test.ts)
  fs.chmodSync(file, mode);
  return file;
}

const a = exe('a/python3');
const b = exe('b/python3');
exe('noexec/python3', 0o644);
fs.mkdirSync(path.join(root, 'dir/python3'), { recursive: true });
exe('venv/bin/python3');
fs.mkdirSync(path.join(root, 'linked/bin'), { recursive: true });
fs.symlinkSync(a, path.join(root, 'linked/bin/python3'));
const custom = exe('c/mypython');

t.test('python3 on PATH: the first executable file, in PATH order', async (t) => {
  t.same(resolveInterpreter(undefined, { PATH: `${root}/a:${root}/b` }, '/'), { path: a, argv0: 'python3' });
  t.same(resolveInterpreter(undefined, { PATH: `${root}/b:${root}/a` }, '/'), { path: b, argv0: 'python3' });
  t.equal(resolveInterpreter(undefined, { PATH: `${root}/noexec:${root}/dir:${root}/b` }, '/').path, b, 'a file without x and a directory are passed over');
});

t.test('PATH entries that are relative or empty are the cwd\'s', async (t) => {
  t.equal(resolveInterpreter(undefined, { PATH: 'a' }, root).path, a, 'a relative entry');
  t.equal(resolveInterpreter(undefined, { PATH: `${root}/noexec::${root}/b` }, path.join(root, 'a')).path, a, 'an empty entry is "."');
  t.equal(findOnPath('python3', ':', path.join(root, 'b')), b, 'PATH ":" is the cwd, twice');
  t.equal(findOnPath('python3', `${root}/noexec`, '/'), null, 'nothing found: null');
});

t.test('no PATH: the default /usr/local/bin:/usr/bin:/bin', async (t) => {
  const expected = ['/usr/local/bin', '/usr/bin', '/bin'].map((d) => path.join(d, 'python3')).find((f) => {
    try { fs.accessSync(f, fs.constants.X_OK); return fs.statSync(f).isFile(); } catch { return false; }
  });
  t.equal(findOnPath('python3', undefined, '/'), expected ?? null);
});

t.test('the active venv wins over PATH; a venv without python3 does not', async (t) => {
  const venv = path.join(root, 'venv');
  t.same(resolveInterpreter(undefined, { VIRTUAL_ENV: venv, PATH: `${root}/a` }, '/'), { path: path.join(venv, 'bin/python3'), argv0: 'python3' });
  t.equal(resolveInterpreter(undefined, { VIRTUAL_ENV: 'venv', PATH: `${root}/a` }, root).path, path.join(venv, 'bin/python3'), 'a relative VIRTUAL_ENV is the cwd\'s');
  t.equal(resolveInterpreter(undefined, { VIRTUAL_ENV: path.join(root, 'dir'), PATH: `${root}/a` }, '/').path, a, 'no python3 in it: PATH');
  t.equal(resolveInterpreter(undefined, { VIRTUAL_ENV: path.join(root, 'linked'), PATH: `${root}/b` }, '/').path, path.join(root, 'linked/bin/python3'),
    'a venv\'s python is a link, and the link is kept (resolving it would leave the venv)');
});

t.test('--python and PYNWHEEL_PYTHON: a path, or a name looked up on PATH; --python first', async (t) => {
  const env = { PATH: `${root}/a:${root}/c`, VIRTUAL_ENV: path.join(root, 'venv'), PYNWHEEL_PYTHON: b };
  t.same(resolveInterpreter(custom, env, '/'), { path: custom, argv0: custom }, '--python wins over everything');
  t.same(resolveInterpreter(undefined, env, '/'), { path: b, argv0: b }, 'then PYNWHEEL_PYTHON, over the venv');
  t.same(resolveInterpreter('mypython', env, '/'), { path: custom, argv0: 'mypython' }, 'a bare name is looked up on PATH, argv0 as typed');
  t.same(resolveInterpreter('./c/mypython', env, root), { path: custom, argv0: './c/mypython' }, 'a relative path is the cwd\'s');
  t.equal(resolveInterpreter('linked/bin/python3', env, root).path, path.join(root, 'linked/bin/python3'), 'a link is kept');
  t.equal(resolveInterpreter('', { ...env, PYNWHEEL_PYTHON: '' }, '/').path, path.join(root, 'venv/bin/python3'), 'empty values count as unset');
});

t.test('no interpreter: ENOPYTHON, saying what was looked for', async (t) => {
  t.throws(() => resolveInterpreter('nosuchpython', { PATH: `${root}/a` }, '/'), { code: 'ENOPYTHON', message: /"nosuchpython" was not found/ });
  t.throws(() => resolveInterpreter(path.join(root, 'noexec/python3'), {}, '/'), { code: 'ENOPYTHON' }, 'not executable');
  t.throws(() => resolveInterpreter(path.join(root, 'dir/python3'), {}, '/'), { code: 'ENOPYTHON' }, 'a directory');
  t.throws(() => resolveInterpreter(undefined, { PATH: `${root}/noexec` }, '/'), { code: 'ENOPYTHON', message: /python3 was not found on PATH/ });
});

t.test('an active conda environment (CONDA_PREFIX) after a venv, before PATH', async (t) => {
  const conda = path.join(root, 'conda');
  exe('conda/bin/python3');
  t.same(resolveInterpreter(undefined, { CONDA_PREFIX: conda, PATH: `${root}/a` }, '/'), { path: path.join(conda, 'bin/python3'), argv0: 'python3' });
  t.equal(resolveInterpreter(undefined, { CONDA_PREFIX: conda, VIRTUAL_ENV: path.join(root, 'venv'), PATH: `${root}/a` }, '/').path,
    path.join(root, 'venv/bin/python3'), 'a venv activated inside it wins');
  t.equal(resolveInterpreter(undefined, { CONDA_PREFIX: path.join(root, 'dir'), PATH: `${root}/a` }, '/').path, a, 'no python3 in it: PATH');
  t.match(resolveFully(undefined, { CONDA_PREFIX: conda, PATH: `${root}/a` }, '/').how, /conda environment \(CONDA_PREFIX=/);
});

t.test('a script that is no shim pynwheel knows is run as it is, never guessed', async (t) => {
  const shim = path.join(root, 'shim/python3');
  fs.mkdirSync(path.dirname(shim), { recursive: true });
  fs.writeFileSync(shim, '#!/bin/sh\nexec /usr/bin/python3 "$@"\n', { mode: 0o755 });
  const found = resolveFully(undefined, { PATH: `${root}/shim`, PYNWHEEL_RUNTIME_DIR: path.join(root, 'rt') }, '/');
  t.same([found.path, found.argv0, found.asIs], [shim, 'python3', true]);
  t.match(found.how, /a script pynwheel does not know/);
});

t.test('the interpreter cache: an answer holds while its variables and files are as they were', async (t) => {
  const { readEntry, writeEntry, decidingVariables } = await import('../lib/client/interpreter-cache');
  const dir = path.join(root, 'cache');
  const decided = exe('decided/.python-version', 0o644);
  const env = { PATH: '/x', PYENV_VERSION: '3.12.1', OTHER: 'not deciding' };
  const answer = { verdict: 'run' as const, python: '/v/bin/python3', how: 'test', edits: [['PYENV_VERSION', '3.12.1'], ['GONE', null]] as Array<[string, string | null]> };
  writeEntry(dir, { ...answer, candidate: '/shim', cwd: '/w', variables: decidingVariables(env), files: [decided, path.join(root, 'absent')] });
  t.same(readEntry(dir, '/shim', '/w', env), answer, 'read back whole');
  t.same(readEntry(dir, '/shim', '/w', { ...env, OTHER: 'changed' }), answer, 'a variable that decides nothing may change');
  t.equal(readEntry(dir, '/shim', '/w', { ...env, PYENV_VERSION: '3.13.0' }), null, 'a deciding variable changed');
  t.equal(readEntry(dir, '/shim', '/w', { ...env, PYENV_DIR: '/d' }), null, 'a deciding variable added');
  t.equal(readEntry(dir, '/shim', '/elsewhere', env), null, 'another cwd');
  fs.writeFileSync(path.join(root, 'absent'), '3.13.0\n');
  t.equal(readEntry(dir, '/shim', '/w', env), null, 'a file that was absent appeared');
  fs.rmSync(path.join(root, 'absent'));
  t.same(readEntry(dir, '/shim', '/w', env), answer, 'and went again');
  fs.writeFileSync(decided, 'changed');
  t.equal(readEntry(dir, '/shim', '/w', env), null, 'a deciding file changed');
});
