// `pynwheel status`: per zygote, how many runs took each path to it (the lane, the daemon,
// routed here for their family, after a stale zygote) and why its lane declined the last few.
// The zygote counts `lane`, `daemon` and its declines; the daemon counts `routed` and `stale`.
// And what each part costs in memory: the daemon, each zygote, its waiting spares, its runs.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI, daemonStatus, makeSandbox, pynwheel, sleep, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('status-paths', { cold: true }); });
t.teardown(() => sb.cleanup());

type Zygote = Record<string, any>;
const zygoteOf = (status: Record<string, any>, family: string[], env: Record<string, string>): Zygote | undefined =>
  status.zygotes.find((z: Zygote) => JSON.stringify(z.key.family) === JSON.stringify(family) &&
    Object.entries(env).every(([k, v]) => z.key.env[k] === v) && (env.OMP_NUM_THREADS !== undefined || z.key.env.OMP_NUM_THREADS === undefined));

t.test('runs by the lane and by the daemon, a decline, a routed run, a cold run: status counts each', async (t) => {
  write(sb, 's.py', 'print("s")\n');
  write(sb, 'n.py', 'import numpy\nprint("n")\n');
  // The base zygote and numpy's warm first: a run no warm zygote can take is python's own (a cold run).
  t.equal((await pynwheel(sb, ['warm', '--packages', 'numpy'])).status, 0, 'numpy\'s zygote warmed');
  const runs: Array<[string[], NodeJS.ProcessEnv]> = [
    [['run', 's.py'], {}], // the daemon relays it: no route yet
    [['run', 's.py'], {}], // the lane
    [['run', 's.py'], {}], // the lane
    [['run', 's.py'], { OMP_NUM_THREADS: '2' }], // the lane declines: another key; no zygote of its own yet: python runs it, and one warms
    [['run', 'n.py'], {}], // the base zygote reads its imports and routes it to numpy's family
  ];
  for (const [args, env] of runs) {
    const r = await pynwheel(sb, args, { env });
    t.equal(r.status, 0, `${args.join(' ')} ${JSON.stringify(env)} ran`);
  }
  // The cold run's warm-up: the zygote of its key, with the script's route, for its next run.
  let keyedWarm: Zygote | undefined;
  for (let i = 0; i < 200 && !keyedWarm?.warmedFor?.length; i++) {
    keyedWarm = zygoteOf(await daemonStatus(sb), [], { OMP_NUM_THREADS: '2' });
    if (!keyedWarm?.warmedFor?.length) await sleep(25);
  }
  t.match(keyedWarm?.warmedFor, [{ why: 'cold run', target: 's.py' }], 'the cold run warmed the zygote of its key, and status says so');
  const next = await pynwheel(sb, ['run', 's.py'], { env: { OMP_NUM_THREADS: '2', PYNWHEEL_DEBUG: '1' } });
  t.match(next.stderr.toString(), /lane taken/, 'the next run of that key came by its lane');

  const status = await daemonStatus(sb);
  const base = zygoteOf(status, [], {});
  const keyed = zygoteOf(status, [], { OMP_NUM_THREADS: '2' });
  const numpy = zygoteOf(status, ['numpy'], {});
  t.ok(base && keyed && numpy, 'the base zygote, one of OMP_NUM_THREADS=2, one of numpy\'s family');

  // The daemon's own counts.
  t.same({ routed: base?.paths.routed, stale: base?.paths.stale }, { routed: 0, stale: 0 }, 'base: nothing routed to it, nothing stale');
  t.same({ routed: numpy?.paths.routed, stale: numpy?.paths.stale }, { routed: 1, stale: 0 }, 'numpy\'s: the run the base zygote routed to it');
  t.same({ routed: keyed?.paths.routed, stale: keyed?.paths.stale }, { routed: 0, stale: 0 });

  // The zygotes' own counts (the Python side: paths, declines, recentDeclines in its status reply).
  t.same({ lane: base?.paths.lane, daemon: base?.paths.daemon }, { lane: 2, daemon: 1 }, 'base: two runs by the lane, one relayed by the daemon');
  t.same({ lane: keyed?.paths.lane, daemon: keyed?.paths.daemon }, { lane: 1, daemon: 0 }, 'OMP_NUM_THREADS=2: none relayed (python ran the cold one), one by the lane');
  t.same({ lane: numpy?.paths.lane, daemon: numpy?.paths.daemon }, { lane: 0, daemon: 1 }, 'numpy\'s: one relayed');
  t.same(base?.declines, { 'other-key-env': 1 }, 'base: one decline, another key');
  t.equal(base?.recentDeclines.length, 1, 'and it is the last one');
  const [code, message, at] = base?.recentDeclines[0] ?? [];
  t.equal(code, 'other-key-env');
  t.ok(typeof message === 'string' && message.length > 0, 'with its message');
  t.ok(typeof at === 'number' && Math.abs(at - Date.now() / 1000) < 600, 'and its time, unix seconds');

  const text = (await pynwheel(sb, ['status'])).stdout.toString();
  t.match(text, /\n {2}paths: .*0 routed here for their family, 0 after a stale zygote/, 'the text form: each zygote\'s paths');
  t.match(text, /\n {2}paths: .*1 routed here for their family/, 'the routed run');
  t.match(text, /\n {2}paths: 2 from the lane, 1 through the daemon \(0 routed here for their family, 0 after a stale zygote\)/, 'base, with the zygote\'s counts');
  t.match(text, /\n {2}lane declines: other-key-env 1\n/, 'declines by code');
  t.match(text, /\n {2}last declines: other-key-env \(.+\) \d+s ago/, 'the last declines');
});

t.test('memory by part: the daemon, the zygote, its waiting spares, its runs and their clients, each counted', async (t) => {
  write(sb, 'mem_sleep.py', 'import os, sys, time\nprint(os.getpid(), flush=True)\nsys.stdin.read()\n');
  await pynwheel(sb, ['warm', 'mem_sleep.py']);
  const children = [0, 1].map(() => spawn(process.execPath, [CLI, 'run', 'mem_sleep.py'], { cwd: sb.dir, env: sb.env, stdio: ['pipe', 'pipe', 'inherit'] }));
  const pids = await Promise.all(children.map((c) => new Promise<number>((resolve) => {
    let out = '';
    c.stdout!.on('data', (d) => { out += d; if (out.includes('\n')) resolve(Number(out.trim())); });
  })));
  try {
    const status = await daemonStatus(sb);
    t.ok(status.memory.pssKiB > 0 && status.memory.ownKiB > 0, 'the daemon\'s own');
    const z = status.zygotes.find((z: Zygote) => z.memory?.runs.count === 2);
    t.ok(z, 'the zygote that runs them counts its two runs');
    t.ok(z.memory.zygote.count === 1 && z.memory.zygote.ownKiB > 0, 'and itself');
    const ownPages = (pid: number) => {
      const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      return ['Private_Clean', 'Private_Dirty'].reduce((n, f) => n + Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(text)![1]), 0);
    };
    const ownOfRuns = pids.reduce((sum, pid) => sum + ownPages(pid), 0);
    t.ok(Math.abs(z.memory.runs.ownKiB - ownOfRuns) <= ownOfRuns * 0.5 + 256, `its runs' own pages as /proc tells them (${z.memory.runs.ownKiB} KiB, ${ownOfRuns} KiB)`);
    t.ok(z.memory.spares.count >= 0 && z.memory.spares.pssKiB >= 0, 'its spares');
    // The runs' clients (node here), known to the zygote by SO_PEERCRED: counted as /proc tells them.
    t.equal(z.memory.clients.count, 2, 'the two runs\' clients');
    const ownOfClients = children.reduce((sum, c) => sum + ownPages(c.pid!), 0);
    t.ok(ownOfClients > 0 && Math.abs(z.memory.clients.ownKiB - ownOfClients) <= ownOfClients * 0.5 + 256,
      `their own pages as /proc tells them (${z.memory.clients.ownKiB} KiB, ${ownOfClients} KiB)`);
    t.ok(z.memory.clients.pssKiB > 0, 'and their PSS');
    const text = (await pynwheel(sb, ['status'])).stdout.toString();
    t.match(text, /\n {2}memory: PSS \d+\.\d MiB, \d+\.\d MiB own\n/, 'the daemon\'s line');
    t.match(text, /\n {2}memory by part: zygote PSS \d+\.\d MiB, \d+\.\d MiB own; \d+ spares waiting, PSS \d+\.\d MiB.*; 2 runs, PSS \d+\.\d MiB, \d+\.\d MiB own each; 2 clients, PSS \d+\.\d MiB, \d+\.\d MiB own each\n/, 'a zygote\'s line');
    t.match(text, /\n {2}memory in all: PSS \d+\.\d MiB \(these parts; the daemon's is above\)\n/, 'and its parts\' sum');
  } finally {
    for (const c of children) c.stdin!.end();
    await Promise.all(children.map((c) => new Promise((r) => c.once('close', r))));
  }
});
