// Spares take the copy-on-write faults of a run ahead (python/pynwheel_zygote.py, HotPages):
// runs record which pages of the zygote's memory they wrote to, and each spare copies those
// while it waits. What the user sees is only speed (bench/); here: runs are still python's,
// the record is private to the user, a waiting spare really has those pages as its own, and
// nothing is left behind.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, daemonStatus, makeSandbox, python, sleep, stopDaemon, view, write, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const PAGE = 4096;

let sb: Sandbox;
t.before(() => { sb = makeSandbox('hot'); });
t.teardown(() => sb.cleanup());

const runner = (args: string[]) => collect(SHIM, ['run', ...args], { cwd: sb.dir, env: sb.env });

/** [address, length] pairs of a record. */
function readRecord(file: string): Array<[bigint, bigint]> {
  const data = fs.readFileSync(file);
  const ranges: Array<[bigint, bigint]> = [];
  for (let i = 0; i + 16 <= data.length; i += 16) ranges.push([data.readBigUInt64LE(i), data.readBigUInt64LE(i + 8)]);
  return ranges;
}

/** How many of the pages in `ranges` are present in `pid` and mapped by it alone (its own copy). */
function ownPages(pid: number, ranges: Array<[bigint, bigint]>): number {
  const fd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    let own = 0;
    for (const [address, length] of ranges) {
      const pages = Number(length) / PAGE;
      const entries = Buffer.alloc(pages * 8);
      fs.readSync(fd, entries, 0, entries.length, Number(address / BigInt(PAGE)) * 8);
      for (let i = 0; i < pages; i++) {
        const flags = entries[i * 8 + 7];
        if ((flags & 0x80) && (flags & 0x01)) own++; // present, exclusively mapped
      }
    }
    return own;
  } finally {
    fs.closeSync(fd);
  }
}

/** The zygote's children, youngest first. */
function childrenOf(pid: number): number[] {
  const children = fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  const started = (child: number) => Number(fs.readFileSync(`/proc/${child}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[19]);
  return children.sort((a, b) => started(b) - started(a));
}

t.test('runs record the pages they write to; a waiting spare has them as its own copy', async (t) => {
  write(sb, 'hello.py', 'import os, sys\nprint("hello", sys.argv[1:], os.getcwd())\n');
  const py = view(await python(sb, ['hello.py', 'x']));
  for (let i = 1; i <= 6; i++) t.same(view(await runner(['hello.py', 'x'])), py, `run ${i} as python's`);
  const zygotes: Array<{ pid: number; lane: { path: string } }> = (await daemonStatus(sb)).zygotes;
  const zygote = zygotes.find((z) => z.lane.path && fs.existsSync(`${z.lane.path}.hot`));
  t.ok(zygote, 'a zygote has a record beside its lane');
  if (!zygote) return;
  const record = `${zygote.lane.path}.hot`;
  t.equal(fs.statSync(record).mode & 0o777, 0o600, 'the record is the user\'s only');
  const ranges = readRecord(record);
  const pages = ranges.reduce((n, [, length]) => n + Number(length) / PAGE, 0);
  t.ok(pages > 10, `the record has pages (${pages} in ${ranges.length} ranges)`);
  t.ok(ranges.every(([address, length]) => address % BigInt(PAGE) === 0n && length > 0n && length % BigInt(PAGE) === 0n), 'whole pages');
  // The spare forked after the last run (which recorded before it ended) copied them all.
  let spares: number[] = [];
  for (let i = 0; i < 100 && spares.length < 2; i++) {
    await sleep(50);
    spares = childrenOf(zygote.pid);
  }
  t.ok(spares.length > 0, `the zygote has spares (${spares.length})`);
  const own = ownPages(spares[0], ranges);
  t.ok(own >= pages * 0.9, `the youngest spare has its own copy of ${own} of the ${pages} pages`);
});

t.test('the records go with their zygotes', async (t) => {
  await runner(['hello.py']);
  t.ok(fs.readdirSync(sb.runtimeDir).some((name) => name.endsWith('.hot')), 'there is a record');
  await stopDaemon(sb.env);
  const left = fs.readdirSync(sb.runtimeDir).filter((name) => /^lane/.test(name));
  t.same(left, [], 'no lane or record is left once the daemon stopped');
});
