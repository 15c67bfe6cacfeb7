// pyATS-style tasks from Node and the CLI (lib/api/tasks.ts, lib/cli/tasks.ts) on the Python job
// driver (python/pynwheel/tasks/): the result names and roll-up read against the shared vectors,
// each result kind through runTasks(), kwargs and values, max_runtime, the summary files, the CLI's
// lines, table and exit status, a task's log against `python3 script.py` writing to a file, 100
// tasks with concurrency 2 (every log whole, nothing interleaved), an edit between two jobs,
// Ctrl-C of a job, --follow's live lines, and the driver file's imports (preloaded: the task finds them imported).
import t from 'tap';
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTasks, scriptImports, SUCCESSFUL_RESULTS, TASK_RESULTS, type TaskEvent } from '../dist/api/tasks';
import { parseTasksArgs, splitWords } from '../dist/cli/tasks';
import { CLI, makeSandbox, pynwheel, python, sleep, write, type Sandbox } from './helpers';

const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, 'vectors', 'task-results.json'), 'utf8'));
const rollup = (names: string[]): string => names.reduce((a, b) => VECTORS.rollup[a][b], VECTORS.empty);

let sb: Sandbox;
t.before(() => { sb = makeSandbox('tasks'); });
t.teardown(() => sb.cleanup());

const options = (extra: Record<string, unknown> = {}) => ({ cwd: sb.dir, env: sb.env, ...extra });
const logDir = (name: string) => path.join(sb.dir, name);

t.test('the result names and the successful roll-ups are the vectors\'', async (t) => {
  t.same([...TASK_RESULTS], VECTORS.names);
  t.same([...SUCCESSFUL_RESULTS], VECTORS.successful);
});

t.test('each result kind, and the job\'s roll-up as the vectors\' table gives it', async (t) => {
  const kinds: Array<[string, string]> = [
    ['print("fine")', 'Passed'],
    ['assert False, "no"', 'Failed'],
    ['import sys; sys.exit(2)', 'Failed'],
    ['raise OSError("disk")', 'Errored'],
    ['raise KeyboardInterrupt', 'Aborted'],
    ['from pynwheel.tasks import Skipped\nraise Skipped("not today")', 'Skipped'],
    ['from pynwheel.tasks import Blocked\nraise Blocked', 'Blocked'],
  ];
  const tasks = kinds.map(([source], i) => ({ id: `kind-${i}`, file: write(sb, `kind_${i}.py`, `${source}\n`) }));
  const events: TaskEvent[] = [];
  const report = await runTasks(tasks, options({ logDir: logDir('kinds'), concurrency: 2, onProgress: (e: TaskEvent) => events.push(e) }));
  kinds.forEach(([, want], i) => t.equal(report.byId[`kind-${i}`]!.result, want, kinds[i]![0]));
  t.equal(report.result, rollup(kinds.map(([, want]) => want)));
  for (let n = 1; n <= kinds.length; n++) {
    const some = kinds.slice(0, n).map((_, i) => ({ file: tasks[i]!.file }));
    const partial = await runTasks(some, options({ logDir: logDir(`kinds-${n}`) }));
    t.equal(partial.result, rollup(partial.tasks.map((task) => task.result)), `the roll-up of ${n}`);
  }
  t.same(events.map((e) => e.event).filter((e, i, all) => all.indexOf(e) === i), ['job', 'started', 'finished', 'summary']);
  t.equal(events.filter((e) => e.event === 'started').length, kinds.length);
  const results = JSON.parse(fs.readFileSync(report.resultsFile, 'utf8'));
  t.equal(results.result, report.result);
  t.same(results.tasks.map((task: { id: string }) => task.id).sort(), tasks.map((task) => task.id).sort());
  const table = fs.readFileSync(report.reportFile, 'utf8');
  t.match(table, /^task +result +duration +log\n/);
  t.match(table, new RegExp(`kind-2 +Failed \\(sys\\.exit\\(2\\)\\) +\\d+\\.\\d{3} s +${logDir('kinds')}/TaskLog\\.kind-2\\n`));
  t.match(table, /\nresult: Aborted \(7 tasks, 1 Passed, 2 Failed, 1 Aborted, 1 Blocked, 1 Skipped, 1 Errored\)\n$/);
});

t.test('kwargs as JSON values, a function\'s value, max_runtime, ids', async (t) => {
  const script = write(sb, 'kw.py', 'import sys, pynwheel.tasks\nprint(sys.argv[1:], pynwheel.tasks.current().kwargs)\n');
  const report = await runTasks([
    { id: 'a/b', file: script, args: ['--fast', 2], kwargs: { device: 'r1', ports: [1, 2], deep: { x: null } } },
    { id: 'value', target: 'json:loads', args: ['[1, {"k": 2.5}]'] },
    { id: 'slow', file: write(sb, 'slow.py', 'import time\ntime.sleep(60)\n'), maxRuntime: 0.5 },
  ], options({ logDir: logDir('kw') }));
  const log = fs.readFileSync(report.byId['a_b']!.log, 'utf8');
  t.match(log, "['--fast', '2'] {'device': 'r1', 'ports': [1, 2], 'deep': {'x': None}}\n");
  t.same(report.byId.value!.value, [1, { k: 2.5 }]);
  t.same([report.byId.slow!.result, report.byId.slow!.signal, report.byId.slow!.reason], ['Aborted', 'SIGTERM', 'max_runtime of 0.5 s exceeded']);
  t.match(fs.readFileSync(report.byId.slow!.log, 'utf8'), 'max_runtime of 0.5 s exceeded: SIGTERM to its processes');
  await t.rejects(runTasks([{ id: 'x', file: script }, { id: 'x', file: script }], options({ logDir: logDir('dup') })),
    { code: 'ETASKS', message: /duplicate task id 'x'/ });
  await t.rejects(runTasks([{ file: script, target: 'a:b' }]), /exactly one of file, module, target/);
});

t.test('a task\'s log holds what python3 script.py writes to a file', async (t) => {
  const source = [
    'import logging, sys, warnings',
    'print("out", sys.argv[1:])',
    'print("err", file=sys.stderr)',
    'logging.warning("a record")',
    'warnings.warn("careful")',
    'def inner():',
    '    raise ValueError("broken")',
    'inner()',
    '',
  ].join('\n');
  const script = write(sb, 'differential.py', source);
  const expected = path.join(sb.dir, 'differential.out');
  spawnSync('sh', ['-c', 'python3 "$0" x y > "$1" 2>&1', script, expected], { env: sb.env, cwd: sb.dir });
  const report = await runTasks([{ file: script, args: ['x', 'y'] }], options({ logDir: logDir('diff') }));
  const log = fs.readFileSync(report.tasks[0]!.log, 'utf8');
  const body = log.split(`${'-'.repeat(60)}\n`)[1];
  t.equal(body, fs.readFileSync(expected, 'utf8'));
  t.equal(report.tasks[0]!.result, 'Errored');
  t.equal(report.tasks[0]!.exitCode, 1);
});

t.test('100 tasks with concurrency 2: every log whole, nothing interleaved', async (t) => {
  const script = write(sb, 'many.py', [
    'import os, sys, pynwheel.tasks',
    'me = pynwheel.tasks.current().taskid',
    'for i in range(200):',
    '    print(me, i, flush=(i % 7 == 0))',
    '    if i % 50 == 0: print(me, "err", i, file=sys.stderr)',
    '',
  ].join('\n'));
  const tasks = Array.from({ length: 100 }, (_, i) => ({ id: `many-${i}`, file: script }));
  let most = 0;
  let running = 0;
  const report = await runTasks(tasks, options({
    logDir: logDir('many'), concurrency: 2,
    onProgress: (e: TaskEvent) => {
      if (e.event === 'started') most = Math.max(most, ++running);
      if (e.event === 'finished') running--;
    },
  }));
  t.equal(report.result, 'Passed');
  t.equal(report.tasks.length, 100);
  t.equal(most, 2, 'at most 2 at once');
  let whole = 0;
  for (const task of tasks) {
    const lines = fs.readFileSync(path.join(logDir('many'), `TaskLog.${task.id}`), 'utf8').split('\n');
    const own = lines.filter((line) => !line.startsWith('pynwheel: ') && line !== '-'.repeat(60) && line !== '');
    const expected = Array.from({ length: 200 }, (_, i) => `${task.id} ${i}`);
    const outs = own.filter((line) => !line.includes(' err '));
    if (outs.join('\n') === expected.join('\n') && own.length === 204 && own.every((line) => line.startsWith(`${task.id} `)) &&
        lines[0] === `pynwheel: task ${task.id}` && lines.some((line) => line === 'pynwheel: result: Passed, exit status 0')) whole++;
  }
  t.equal(whole, 100, 'logs whole and their own');
});

t.test('a task script edited between two jobs runs as it is then', async (t) => {
  const script = write(sb, 'edited.py', 'print("version 1")\n');
  const first = await runTasks([{ file: script }], options({ logDir: logDir('edit-1') }));
  t.match(fs.readFileSync(first.tasks[0]!.log, 'utf8'), '\nversion 1\n');
  write(sb, 'edited.py', 'import sys\nprint("version 2")\nsys.exit(1)\n');
  const second = await runTasks([{ file: script }], options({ logDir: logDir('edit-2') }));
  const log = fs.readFileSync(second.tasks[0]!.log, 'utf8');
  t.match(log, '\nversion 2\n');
  t.notMatch(log, 'version 1');
  t.equal(second.result, 'Failed');
});

t.test('the driver file imports what the scripts import: the task finds it imported', async (t) => {
  write(sb, 'localmod.py', 'X = 1\n');
  const script = write(sb, 'uses_numpy.py', 'import sys\nprint("numpy" in sys.modules, "localmod" in sys.modules)\nimport numpy, localmod\n');
  t.same(scriptImports([script]), ['numpy', 'sys']);
  const report = await runTasks([{ file: script }], options({ logDir: logDir('imports') }));
  t.match(fs.readFileSync(report.tasks[0]!.log, 'utf8'), '\nTrue False\n');
  const drivers = fs.readdirSync(path.join(sb.runtimeDir, 'tasks')).filter((name) => /^driver-[0-9a-f]{16}\.py$/.test(name));
  t.ok(drivers.some((name) => fs.readFileSync(path.join(sb.runtimeDir, 'tasks', name), 'utf8').includes('    import numpy\n')));
});

t.test('the CLI: lines off a terminal, the table, the exit status, usage errors', async (t) => {
  write(sb, 'cli_ok.py', 'import sys\nprint("ok", sys.argv[1:])\n');
  write(sb, 'cli_bad.py', 'assert 1 == 2\n');
  const good = await pynwheel(sb, ['tasks', '--jobs', '2', '--log-dir', 'cli-good', 'cli_ok.py --fast', 'json:dumps']);
  const text = good.stdout.toString();
  t.equal(good.status, 1, 'json:dumps without its argument errs');
  t.match(text, /^Passed  Task-1  \d+\.\d{3} s  \S+TaskLog\.Task-1\n/m);
  t.match(text, /^Errored Task-2 /m);
  t.match(text, /\nresult: Errored \(2 tasks, 1 Passed, 1 Errored\)\n/);
  t.match(fs.readFileSync(path.join(sb.dir, 'cli-good', 'TaskLog.Task-1'), 'utf8'), "\nok ['--fast']\n");
  const passing = await pynwheel(sb, ['tasks', '--log-dir', 'cli-pass', '--json', 'cli_ok.py']);
  t.equal(passing.status, 0);
  t.equal(JSON.parse(passing.stdout.toString()).result, 'Passed');
  write(sb, 'list.txt', '# a comment\ncli_ok.py "two words"\n\ncli_bad.py\n');
  const listed = await pynwheel(sb, ['tasks', '--from', 'list.txt', '--log-dir', 'cli-from']);
  t.equal(listed.status, 1);
  t.match(listed.stdout.toString(), /\nresult: Failed \(2 tasks, 1 Passed, 1 Failed\)\n/);
  t.match(fs.readFileSync(path.join(sb.dir, 'cli-from', 'TaskLog.Task-1'), 'utf8'), "\nok ['two words']\n");
  for (const [args, message] of [[['tasks'], /no tasks/], [['tasks', '--jobs', 'x', 'a.py'], /--jobs takes a whole number/],
    [['tasks', '--bogus', 'a.py'], /unknown option --bogus/]] as const) {
    const bad = await pynwheel(sb, [...args]);
    t.equal(bad.status, 2);
    t.match(bad.stderr.toString(), message);
  }
  t.same(splitWords(`a.py 'x y' "q\\"z" w`), ['a.py', 'x y', 'q"z', 'w']);
  t.same(parseTasksArgs(['--max-runtime=2.5', '-m json.tool', 'pkg.mod:fn a']), {
    json: false, maxRuntime: 2.5, tasks: [{ module: 'json.tool', args: [] }, { target: 'pkg.mod:fn', args: ['a'] }],
  });
});

t.test('Ctrl-C of a job: running tasks Aborted (their logs say so), the rest not started, the summary', async (t) => {
  write(sb, 'long.py', 'import time\nprint("waiting", flush=True)\ntime.sleep(120)\n');
  const dir = path.join(sb.dir, 'ctrl-c');
  const child = spawnChild(process.execPath, [CLI, 'tasks', '--jobs', '1', '--log-dir', dir, 'long.py', 'long.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const log = path.join(dir, 'TaskLog.Task-1');
  for (let i = 0; i < 400 && !(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('waiting')); i++) await sleep(50);
  child.kill('SIGINT');
  const status = await new Promise((resolve) => child.on('close', resolve));
  t.equal(status, 1);
  t.match(out, /^Aborted Task-1 .*\(the job was interrupted \(SIGINT\)\)/m);
  t.match(out, /interrupted: 1 task\(s\) not started/);
  t.match(fs.readFileSync(log, 'utf8'), 'the job was interrupted (SIGINT): SIGTERM to its processes');
  t.notOk(fs.existsSync(path.join(dir, 'TaskLog.Task-2')));
});

t.test('--follow: each task\'s lines as it writes them, prefixed, whole and in order, then the table', async (t) => {
  write(sb, 'follow_wait.py', [
    'import os, sys, time',
    'print("before the gate", flush=True)',
    'while not os.path.exists(sys.argv[1]):',
    '    time.sleep(0.02)',
    'print("after the gate", flush=True)',
    'sys.stdout.write("no newline at the end")',
  ].join('\n') + '\n');
  write(sb, 'follow_many.py', 'for i in range(200):\n    print("line", i)\n');
  const gate = path.join(sb.dir, 'follow-gate');
  const child = spawnChild(process.execPath, [CLI, 'tasks', '--follow', '--jobs', '2', '--log-dir', 'follow-logs',
    `follow_wait.py ${gate}`, 'follow_many.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  for (let i = 0; i < 600 && !out.includes('[Task-1] before the gate\n'); i++) await sleep(50);
  t.match(out, '[Task-1] before the gate\n', 'a line is shown while its task still runs');
  t.notMatch(out, 'after the gate', 'and nothing it has not written yet');
  fs.writeFileSync(gate, '');
  const status = await new Promise((resolve) => child.on('close', resolve));
  t.equal(status, 0);
  const lines = out.split('\n');
  const shown = (id: string) => lines.filter((l) => l.startsWith(`[${id}] `)).map((l) => l.slice(id.length + 3));
  const log = (id: string) => fs.readFileSync(path.join(sb.dir, 'follow-logs', `TaskLog.${id}`), 'utf8');
  t.same(shown('Task-1'), log('Task-1').replace(/\n$/, '').split('\n'), 'Task-1: its whole log, line by line, in order');
  t.same(shown('Task-2'), log('Task-2').replace(/\n$/, '').split('\n'), 'Task-2: its whole log, in order');
  t.same(shown('Task-2').filter((l) => l.startsWith('line ')), Array.from({ length: 200 }, (_, i) => `line ${i}`));
  t.ok(shown('Task-1').includes('no newline at the end'), "a last line without its newline: shown whole, the log's footer on a line of its own");
  t.match(out, /^Passed  Task-1 /m, 'the table follows');
  t.match(out, /\nresult: Passed \(2 tasks, 2 Passed\)\n/);
});

t.test('pdb in parallel tasks on a real terminal: one task holds it at a time, the others go on', async (t) => {
  const harness = path.join(__dirname, 'fixtures', 'pty_session.py');
  const dir = path.join(sb.dir, 'pdb');
  write(sb, 'debugged.py', [
    'import os, sys, time',
    'who = sys.argv[1]',
    'def quiet_done():',
    `    log = os.path.join(${JSON.stringify(dir)}, "TaskLog.Task-3")`,
    `    open(os.path.join(${JSON.stringify(sb.dir)}, "go"), "w").close()  # the quiet task ends while this one holds the terminal`,
    '    while "pynwheel: result: Passed" not in (open(log).read() if os.path.exists(log) else ""):',
    '        time.sleep(0.05)',
    '    return "quiet finished"',
    'breakpoint()',
    'print("after pdb", who)',
    '',
  ].join('\n'));
  write(sb, 'quiet.py', 'import os, time\nwhile not os.path.exists("go"): time.sleep(0.05)\nfor i in range(100):\n    print("quiet", i)\n');
  const steps = [
    { expect: '(Pdb) ' }, { send: 'p who, quiet_done()\n' }, { expect: 'quiet finished' }, { send: 'c\n' },
    { expect: '(Pdb) ' }, { send: 'p who\n' }, { expect: "'\r\n" }, { send: 'c\n' },
    { expect: 'result: ' }, { sleep: 0.3 },
  ];
  const command = [process.execPath, CLI, 'tasks', '--jobs', '3', '--log-dir', dir, 'debugged.py one', 'debugged.py two', 'quiet.py'];
  const r = spawnSync(path.join(sb.venv, 'bin', 'python3'), [harness, JSON.stringify(steps), '--', ...command], {
    cwd: sb.dir, env: { ...sb.env, TERM: 'xterm' }, encoding: 'utf8', timeout: 90_000,
  });
  const session = JSON.parse(r.stdout);
  const output = Buffer.from(session.output, 'base64').toString('utf8');
  t.equal(session.timedOut, null, output);
  t.equal(session.code, 0);
  const first = output.indexOf('quiet finished');
  const [held] = /\('(one|two)', 'quiet finished'\)/.exec(output) ?? [''];
  const firstName = held.includes('one') ? 'one' : 'two';
  const other = firstName === 'one' ? 'two' : 'one';
  t.equal(output.slice(0, first).split('(Pdb) ').length - 1, 1, 'one prompt while the first task holds the terminal');
  t.ok(output.indexOf(`'${other}'`, first) > first, 'then the other task\'s debugger');
  t.notOk(/Passed +Task-3/.test(output.slice(0, first)), 'the quiet task ended while the terminal was held: its line waits');
  t.ok(/Passed +Task-3/.test(output.slice(first)), 'until the terminal is given back');
  t.match(output, /result: Passed \(3 tasks, 3 Passed\)/);
  t.match(fs.readFileSync(path.join(dir, 'TaskLog.Task-1'), 'utf8'), '\nafter pdb one\n');
  t.match(fs.readFileSync(path.join(dir, 'TaskLog.Task-2'), 'utf8'), '\nafter pdb two\n');
  t.match(fs.readFileSync(path.join(dir, 'TaskLog.Task-3'), 'utf8'), '\nquiet 99\n');
});

t.test('a job file: Task, run(), pcall() and at_fork under pynwheel run, as under python3', async (t) => {
  write(sb, 'job_ok.py', 'import sys, pynwheel.tasks\nprint("ok", sys.argv[1:], pynwheel.tasks.current().kwargs)\n');
  write(sb, 'job_fail.py', 'import sys\nsys.exit(3)\n');
  const job = write(sb, 'job.py', [
    'import os, sys',
    'import pynwheel',
    'from pynwheel.tasks import Task, pcall, rollup, run',
    '',
    '@pynwheel.at_fork',
    'def mark():',
    '    os.environ["IN_TASK"] = "yes"',
    '',
    'def square(x):',
    '    return x * x',
    '',
    'log_dir = sys.argv[1]',
    'first = run("job_ok.py", taskid="first", args=["a"], log_dir=log_dir, device="r1")',
    'print(first.taskid, first.result, first.exit_code)',
    'tasks = [Task(name, taskid=name[:-3], log_dir=log_dir).start() for name in ("job_ok.py", "job_fail.py")]',
    'print([task.wait(60) for task in tasks], [task.task_result.exit_code for task in tasks])',
    'print(rollup([first.result] + [task.result for task in tasks]))',
    'print(pcall(square, iargs=[(2,), (3,)], log_dir=log_dir), pcall("os:getenv", iargs=[("IN_TASK",)], log_dir=log_dir))',
    'print(open(first.log_path).read().split("-" * 60 + "\\n")[1], end="")',
    '',
  ].join('\n'));
  const pythonPath = (await pynwheel(sb, ['python-path'])).stdout.toString().trim();
  const py = await python(sb, [job, 'logs-python'], { env: { PYTHONPATH: pythonPath } });
  const pnw = await pynwheel(sb, ['run', job, 'logs-pynwheel']);
  const expected = "first Passed 0\n[Passed, Failed] [0, 3]\nFailed\n(4, 9) ('yes',)\nok ['a'] {'device': 'r1'}\n";
  t.equal(py.stdout.toString(), expected, py.stderr.toString());
  t.equal(pnw.stdout.toString(), expected, pnw.stderr.toString());
  t.equal(pnw.status, 0);
});
