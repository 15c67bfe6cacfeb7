// The native runner's own code on the protocol's test vectors (test/vectors/*.json) and beside
// lib/'s twins: build/Release/runner-vectors (test/native/runner-vectors.cc, built by binding.gyp
// from the runner's sources) runs ParseRunArgs, ParseCommandLine, RouteName, the ReplyReader
// (frames sent with real fds through a socketpair), RuntimeDir, ResolvePython and
// BuildRunRequest, and LookUpShim on the interpreter cache's vectors beside lib/client/interpreter-cache.ts; its copy of the protocol's constants (native/shared/protocol.h) is checked
// against lib/shared/protocol.json.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveInterpreter } from '../lib/client/interpreter';
import { cacheName, fileSignature, readEntry, writeEntry, type CacheEntry } from '../lib/client/interpreter-cache';
import { checkRunRequest } from '../lib/daemon/request-check';
import { fdCountOf } from '../lib/shared/messages';
import { native } from '../lib/shared/native';
import { runtimeDirFor } from '../lib/shared/runtime-dir';
import { VERSION } from '../lib/shared/version';
import { ROOT } from './helpers';

const PROGRAM = path.join(ROOT, 'build', 'Release', 'runner-vectors');
const VECTORS = path.join(ROOT, 'test', 'vectors');
const PROTOCOL = JSON.parse(fs.readFileSync(path.join(ROOT, 'lib', 'shared', 'protocol.json'), 'utf8'));
const vectors = (name: string) => JSON.parse(fs.readFileSync(path.join(VECTORS, `${name}.json`), 'utf8'));

type Reply = Record<string, any>;

/** Runs each record (a command and its fields) through the program; one parsed reply per record. */
function run(records: Array<[string, ...string[]]>): Reply[] {
  const input = Buffer.concat(records.map(([command, ...fields]) =>
    Buffer.from([command, String(fields.length), ...fields].map((f) => `${f}\0`).join(''))));
  const result = spawnSync(PROGRAM, [], { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`runner-vectors ended with ${result.status ?? result.signal}: ${result.stderr}`);
  const lines = result.stdout.toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Reply);
  if (lines.length !== records.length) throw new Error(`runner-vectors answered ${lines.length} of ${records.length} records`);
  return lines;
}

/** How the runner's flat reader should see a top-level member of `value`. */
/** lib/client/interpreter.ts's answer, as the program prints ResolvePython's. */
function interpreterOf(explicit: string, env: Record<string, string>, cwd: string): Reply {
  try {
    const { path: found, argv0 } = resolveInterpreter(explicit || undefined, env, cwd);
    return { found: true, path: found, argv0 };
  } catch {
    return { found: false };
  }
}

function flatMember(value: unknown): [string, string] | [string] {
  if (typeof value === 'string') return ['string', value];
  if (typeof value === 'boolean') return ['boolean', String(value)];
  if (value === null) return ['null', 'null'];
  if (typeof value === 'number') return ['number'];  // its text is compared as a number
  return ['nested', ''];
}

function sameFlat(got: Record<string, [string, string]>, message: Record<string, unknown>): string | null {
  const names = Object.keys(message).sort();
  if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(names)) return `members ${Object.keys(got)} != ${names}`;
  for (const name of names) {
    const want = flatMember(message[name]);
    const [kind, text] = got[name];
    if (kind !== want[0]) return `${name}: ${kind} != ${want[0]}`;
    if (kind === 'number' ? Number(text) !== message[name] : want.length === 2 && text !== want[1]) return `${name}: ${text}`;
  }
  return null;
}

t.test('the test program is built', async (t) => {
  t.ok(fs.existsSync(PROGRAM), 'build/Release/runner-vectors exists (binding.gyp builds it in a checkout)');
});

t.test('native/shared/protocol.h matches lib/shared/protocol.json', async (t) => {
  const [c] = run([['constants']]);
  t.equal(c.version, PROTOCOL.version, 'version');
  t.equal(c.magic, PROTOCOL.magic, 'magic');
  t.equal(c.headerSize, PROTOCOL.headerSize, 'header size');
  t.equal(c.clientFrameBytes, PROTOCOL.limits.clientFrameBytes, 'client frame limit');
  t.equal(c.zygoteFrameBytes, PROTOCOL.limits.zygoteFrameBytes, 'zygote frame limit');
  t.equal(c.fdsPerFrame, PROTOCOL.limits.fdsPerFrame, 'fds per frame');
  t.same(c.notifySignals, PROTOCOL.notifySignals.map((name: string) => (os.constants.signals as Record<string, number>)[name]), 'notify signals');
  t.same(c.frameErrors, Object.keys(PROTOCOL.frameErrors), 'frame errors, in order');
  t.same(c.frameErrorCodes, Object.keys(PROTOCOL.frameErrors).map((r) => (r === 'other-version' ? 'EVERSION' : 'EPROTO')), 'their error codes');
  for (const miss of c.laneMisses) t.ok(miss in PROTOCOL.laneMisses, `lane miss ${miss} is a protocol code`);
  t.equal(c.debugVariable, PROTOCOL.debug.variable, 'debug variable');
  t.equal(c.debugPrefix, PROTOCOL.debug.prefix, 'debug prefix');
  t.equal(c.client, VERSION, 'the runner\'s version is the package\'s');
  t.ok(fs.existsSync(path.join(ROOT, c.cliEntry)), `the Node CLI entry the runner execs (${c.cliEntry}) is built`);
});

t.test('frames.json through the runner\'s ReplyReader', async (t) => {
  const { valid, invalid } = vectors('frames');
  const replies = run([...valid, ...invalid].map((v: any) => ['frames', v.hex, String(v.fds), v.limit]));
  let passed = 0;
  valid.forEach((v: any, i: number) => {
    const r = replies[i];
    const wrong = r.error ? `failed: ${r.error}` : r.frames.length !== 1 ? `${r.frames.length} frames` : sameFlat(r.frames[0], v.message);
    if (wrong === null && r.pending === 0) passed++;
    else t.fail(`valid "${v.name}": ${wrong ?? `${r.pending} bytes left`}`);
  });
  invalid.forEach((v: any, i: number) => {
    const r = replies[valid.length + i];
    if (r.error === v.reason && r.code === v.error && r.frames.length === 0) passed++;
    else t.fail(`invalid "${v.name}": ${JSON.stringify(r)}, expected ${v.error} ${v.reason}`);
  });
  t.equal(passed, valid.length + invalid.length, `${passed} of ${valid.length + invalid.length} frames (${valid.length} valid, ${invalid.length} invalid) as the vectors say`);
});

t.test('route-names.json through RouteName', async (t) => {
  const { routes } = vectors('route-names');
  const replies = run(routes.map((r: any) => ['route', r.python, r.cwd, r.file, ...(r.session !== undefined ? [String(r.session)] : [])]));
  const wrong = routes.filter((r: any, i: number) => replies[i].name !== r.name);
  t.same(wrong, [], `${routes.length - wrong.length} of ${routes.length} route names`);
});

/** What the runner should make of a run-args case: its result, or a hand-over to Node. */
function expectedRun(c: any): Reply {
  if (c.usage || c.runner === 'node') return { node: true, usage: c.usage === true };
  return c.result;
}

function parsed(r: Reply): Reply {
  return 'node' in r ? { node: true, usage: r.usage } : r;
}

/** JSON with sorted keys: the runner writes members in its own order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Reply)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A case's environment as the program's fields: N, then N "NAME=VALUE". */
function envFields(env: Record<string, string> | undefined): string[] {
  const entries = Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`);
  return [String(entries.length), ...entries];
}

t.test('native/runner/run_args.cc holds lib/shared/command-line.json', async (t) => {
  const spec = JSON.parse(fs.readFileSync(path.join(ROOT, 'lib', 'shared', 'command-line.json'), 'utf8'));
  const [copy] = run([['command-line-spec']]);
  const { shortOptions, longOptions, flags, warningVariable, warningActions, warningCategories, xOptions } = spec;
  t.same(copy, { shortOptions, longOptions, flags, warningVariable, warningActions, warningCategories, xOptions });
  t.equal(canonical(copy), canonical({ shortOptions, longOptions, flags, warningVariable, warningActions, warningCategories, xOptions }), 'member for member');
});

t.test('run-args.json through ParseRunArgs, and the whole command line through ParseCommandLine', async (t) => {
  const { cases } = vectors('run-args');
  const afterRun = run(cases.map((c: any) => ['run-args', ...envFields(c.env), ...c.argv]));
  const whole = run(cases.map((c: any) => ['command-line', ...envFields(c.env), 'pynwheel', 'run', ...c.argv]));
  let passed = 0;
  cases.forEach((c: any, i: number) => {
    const want = expectedRun(c);
    const got = [parsed(afterRun[i]), parsed(whole[i])];
    if (canonical(got[0]) === canonical(want) && canonical(got[1]) === canonical(want)) passed++;
    else t.same(got, [want, want], `"${c.name}"`);
  });
  t.equal(passed, cases.length, `${passed} of ${cases.length} run-args cases (after "run" and as a whole command line)`);

  // The other forms lib/cli/main.ts knows: the shebang form, the spec's --file form, other commands.
  const forms: Array<[string[], Reply]> = [
    [[], { node: true, usage: false }],
    [['status'], { node: true, usage: false }],
    [['start'], { node: true, usage: false }],
    [['stop'], { node: true, usage: false }],
    [['doctor'], { node: true, usage: false }],
    [['python-path'], { node: true, usage: false }],
    [['tasks', 'a.py'], { node: true, usage: false }],
    [['worker', '--redis', 'unix:///r.sock'], { node: true, usage: false }],
    [['run', '--on', 'redis://h', 'a.py'], { node: true, usage: false }],
    [['run', '--on=redis://h', 'a.py'], { node: true, usage: false }],
    [['help'], { node: true, usage: false }],
    [['--help'], { node: true, usage: false }],
    [['--version'], { node: true, usage: false }],
    [['run'], { direct: true, pythonArgv: [] }],
    [['a.py', '-x'], { file: 'a.py', args: ['-x'], options: [], pythonArgv: ['a.py', '-x'] }],
    [['./run', 'x'], { file: './run', args: ['x'], options: [], pythonArgv: ['./run', 'x'] }],
    [['--file', 'a.py', '--args', 'b'], { file: 'a.py', args: ['b'], options: [], pythonArgv: ['a.py', 'b'] }],
    [['--file', 'a.py', 'b'], { node: true, usage: true }],
  ];
  const replies = run(forms.map(([argv]) => ['command-line', '0', 'pynwheel', ...argv]));
  forms.forEach(([argv, want], i) => t.same(parsed(replies[i]), want, `pynwheel ${argv.join(' ')}`));
});

t.test('RuntimeDir and RuntimeDirIsSafe beside lib/shared/runtime-dir.ts', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-vectors-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  fs.mkdirSync(path.join(scratch, 'safe'), { mode: 0o700 });
  fs.mkdirSync(path.join(scratch, 'open'), { mode: 0o755 });
  fs.chmodSync(path.join(scratch, 'open'), 0o755);
  fs.symlinkSync(path.join(scratch, 'safe'), path.join(scratch, 'link'));
  fs.mkdirSync(path.join(scratch, 'xdg', 'pynwheel'), { recursive: true, mode: 0o700 });
  const cwd = process.cwd();
  const envs: Array<Record<string, string>> = [
    {},
    { PYNWHEEL_RUNTIME_DIR: path.join(scratch, 'safe') },
    { PYNWHEEL_RUNTIME_DIR: path.join(scratch, 'open') },
    { PYNWHEEL_RUNTIME_DIR: path.join(scratch, 'link') },
    { PYNWHEEL_RUNTIME_DIR: path.join(scratch, 'missing') },
    { PYNWHEEL_RUNTIME_DIR: 'relative/./dir/../rt' },
    { PYNWHEEL_RUNTIME_DIR: `${scratch}//safe/` },
    { PYNWHEEL_RUNTIME_DIR: '', XDG_RUNTIME_DIR: path.join(scratch, 'xdg') },
    { XDG_RUNTIME_DIR: 'x/../xdg' },
    { TMPDIR: scratch },
    { TMPDIR: '' },
  ];
  const replies = run(envs.map((env) => ['runtime-dir', cwd, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]));
  envs.forEach((env, i) => {
    const dir = runtimeDirFor(env);
    let safe: boolean;
    try {
      const st = fs.lstatSync(dir);
      safe = st.isDirectory() && st.uid === process.getuid!() && (st.mode & 0o077) === 0;
    } catch {
      safe = false;
    }
    t.same(replies[i], { dir, safe }, `${JSON.stringify(env)}: ${dir}${safe ? ', safe' : ''}`);
  });
});

t.test('ResolvePython beside lib/client/interpreter.ts', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-vectors-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const file = (relative: string, mode: number) => {
    const at = path.join(scratch, relative);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.writeFileSync(at, '#!/bin/sh\n', { mode });
    fs.chmodSync(at, mode);
  };
  file('bin1/python3', 0o755);
  file('bin2/python3', 0o644);  // not executable
  file('bin2/py', 0o755);
  fs.mkdirSync(path.join(scratch, 'bin3', 'python3'), { recursive: true });  // a directory
  file('venv/bin/python3', 0o755);
  file('here/python3', 0o755);
  fs.symlinkSync(path.join(scratch, 'bin1', 'python3'), path.join(scratch, 'bin2', 'linked'));
  const cwd = path.join(scratch, 'here');
  const cases: Array<[string, Record<string, string>]> = [
    ['', { PATH: `${scratch}/bin2:${scratch}/bin3:${scratch}/bin1` }],
    ['', { PATH: `${scratch}/bin2:${scratch}/bin3` }],
    ['', { PATH: `${scratch}/bin2::${scratch}/bin1` }],  // an empty entry is the cwd
    ['', { PATH: `bin1:../bin1` }],
    ['', { PATH: `${scratch}/bin1`, VIRTUAL_ENV: `${scratch}/venv` }],
    ['', { PATH: `${scratch}/bin1`, VIRTUAL_ENV: '../venv' }],
    ['', { PATH: `${scratch}/bin1`, VIRTUAL_ENV: `${scratch}/nothing` }],
    ['', { PATH: `${scratch}/bin1`, VIRTUAL_ENV: '' }],
    ['py', { PATH: `${scratch}/bin1:${scratch}/bin2` }],
    ['linked', { PATH: `${scratch}/bin2` }],
    ['nothing', { PATH: `${scratch}/bin1` }],
    [`${scratch}/bin2/python3`, {}],
    [`${scratch}/bin1/./python3`, {}],
    ['../bin1/python3', {}],
    ['./python3', {}],
    ['', { PATH: `${scratch}/bin1`, PYNWHEEL_PYTHON: 'py' }],
    ['', { PATH: `${scratch}/bin2`, PYNWHEEL_PYTHON: 'py' }],
    ['', { PATH: `${scratch}/bin2`, PYNWHEEL_PYTHON: '' }],
    ['python3', { PATH: `${scratch}/bin2`, PYNWHEEL_PYTHON: `${scratch}/bin1/python3` }],
  ];
  const replies = run(cases.map(([explicit, env]) => ['python', explicit, cwd, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]));
  cases.forEach(([explicit, env], i) => {
    // (a runtime directory of the test's, which does not exist: no shim answer is cached anywhere)
    const want = interpreterOf(explicit, { ...env, PYNWHEEL_RUNTIME_DIR: path.join(scratch, 'no-runtime-dir') }, cwd);
    t.same(replies[i], want, `--python ${JSON.stringify(explicit)} ${JSON.stringify(env)}: ${want.found ? want.path : 'not found'}`);
  });
});

t.test('BuildRunRequest: what lib/client/run-client.ts sends, and what checkRunRequest accepts', async (t) => {
  const { cases } = vectors('run-args');
  const runs = cases.filter((c: any) => !c.usage && c.runner !== 'node' && !c.result.direct).map((c: any) => c.result);
  const env = ['HOME=/home/u', 'LANG=C.UTF-8', 'ODD=tab\tquote"backslash\\', 'EMPTY=', 'UNICODE=ü€𝄞'];
  const attributes = native.processAttributes();
  const sched = native.scheduling(); // (the test program's are this process's: it is our child)
  const shapes: Array<[string, boolean, string]> = [['111', true, '0'], ['010', false, '123456789'], ['000', true, '281474976710655']];
  const records: Array<[string, ...string[]]> = [];
  const expected: Reply[] = [];
  runs.forEach((r: any, i: number) => {
    const [stdio, cwdFd, token] = shapes[i % shapes.length];
    const kind = r.module !== undefined ? 'module' : r.code !== undefined ? 'code' : 'file';
    records.push(['request', kind, r[kind], '/srv/app', '/usr/bin/python3', r.python ?? 'python3', stdio, cwdFd ? '1' : '0', token,
      String(r.args.length), ...r.args, ...env]);
    expected.push({
      type: 'run', client: VERSION, [kind]: r[kind], args: r.args, cwd: '/srv/app',
      env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      python: '/usr/bin/python3', argv0: r.python ?? 'python3', stdio: [...stdio].map((b) => b === '1'), cwdFd,
      ...attributes, ...(token !== '0' ? { notify: [os.constants.signals.SIGURG, Number(token)] } : {}),
      ...(sched !== undefined ? { sched } : {}),
    });
  });
  const replies = run(records);
  let passed = 0;
  replies.forEach((request, i) => {
    let checked: string | null = null;
    try {
      checkRunRequest(request as any, fdCountOf(request as any));
    } catch (err) {
      checked = (err as Error).message;
    }
    if (checked === null && JSON.stringify(request) === JSON.stringify(expected[i])) passed++;
    else t.same({ request, checked }, { request: expected[i], checked: null }, `request ${i}`);
  });
  t.equal(passed, runs.length, `${passed} of ${runs.length} requests built for the run-args vectors are lib/client/run-client.ts's and pass checkRunRequest`);
});

t.test('the interpreter cache: what interpreter-cache.ts writes, both readers take or refuse alike', async (t) => {
  const spec = vectors('interp-cache');
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-interp-vectors-')));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const runtime = path.join(dir, 'rt');
  const cacheDir = path.join(runtime, 'interp');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const fill = (text: string): string => text.replace(/\{sig:([^}]*\}[^}]*)\}/g, (_, file) => fileSignature(fill(file))).split('{dir}').join(dir);
  const fillEnv = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, fill(v)]));
  const steps = (what: { create?: string[]; touch?: string[]; remove?: string[] } = {}) => {
    for (const f of [...(what.create ?? []), ...(what.touch ?? [])]) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), `${f} ${Date.now()} ${Math.random()}\n`);
    }
    for (const f of what.remove ?? []) fs.rmSync(path.join(dir, f));
  };
  /** Both readers' answers for one lookup: TS's readEntry (its edits made on a copy), and the runner's. */
  const lookUp = (entry: CacheEntry, env: Record<string, string>, report: string[]) => {
    const ts = readEntry(cacheDir, entry.candidate, entry.cwd, env);
    const after: Record<string, string | undefined> = { ...env };
    if (ts?.verdict === 'run') for (const [k, v] of ts.edits) after[k] = v ?? undefined;
    const mine = { verdict: ts?.verdict ?? 'unknown', python: ts ? ts.python : '', env: Object.fromEntries(report.map((k) => [k, after[k] ?? null])) };
    const [runner] = run([['interp', runtime, entry.candidate, entry.cwd, String(report.length), ...report,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]]);
    return { mine, runner };
  };
  let lookups = 0;
  for (const vector of spec.entries) {
    steps(vector.before);
    const e = vector.entry;
    const entry: CacheEntry = {
      candidate: fill(e.candidate), cwd: fill(e.cwd), variables: e.variables.map(([k, v]: string[]) => [k, fill(v)]),
      files: e.files.map(fill), verdict: e.verdict, python: fill(e.python), how: e.how,
      edits: e.edits.map(([k, v]: [string, string | null]) => [k, v === null ? null : fill(v)]),
    };
    writeEntry(cacheDir, entry);
    const file = path.join(cacheDir, cacheName(entry.candidate, entry.cwd, entry.variables));
    t.equal(fs.readFileSync(file, 'utf8'), vector.text.map(fill).join('\0'), `${vector.name}: the writer writes the vectors' text`);
    for (const lookup of vector.lookups) {
      steps(lookup.steps);
      const expect = { python: '', ...lookup.expect, env: lookup.expect.env };
      expect.python = fill(expect.python);
      const { mine, runner } = lookUp(entry, fillEnv(lookup.env), vector.report);
      t.same(mine, expect, `${vector.name}, ${lookup.name}: interpreter-cache.ts`);
      t.same(runner, expect, `${vector.name}, ${lookup.name}: native/runner/interp_cache.cc`);
      lookups++;
    }
  }
  const base = spec.entries[spec.malformedBase];
  const entry = {
    candidate: fill(base.entry.candidate), cwd: fill(base.entry.cwd), variables: base.entry.variables.map(([k, v]: string[]) => [k, fill(v)]),
  } as CacheEntry;
  const file = path.join(cacheDir, cacheName(entry.candidate, entry.cwd, entry.variables));
  for (const bad of spec.malformed) {
    const fields: string[] = base.text.map(fill);
    if (bad.splice) fields.splice(bad.splice[0], bad.splice[1], ...bad.splice.slice(2));
    if (bad.truncate !== undefined) fields.length = bad.truncate;
    fs.writeFileSync(file, fields.join('\0'));
    const { mine, runner } = lookUp(entry, fillEnv(base.lookups[0].env), []);
    t.same([mine.verdict, runner.verdict], ['unknown', 'unknown'], `malformed, ${bad.name}: both readers refuse it`);
  }
  t.ok(lookups >= 8, `${lookups} lookups checked from both sides`);
});
