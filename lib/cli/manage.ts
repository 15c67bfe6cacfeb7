// Runs in the CLI: the management commands (start, stop, status, doctor), parsed by yargs.
import * as fs from 'node:fs';
import { connectOrStart } from '../client/connect';
import { resolveInterpreter } from '../client/interpreter';
import { PYTHON_PACKAGE_HOME } from '../shared/python-home';
import { ensureRuntimeDir, runtimeDirFor } from '../shared/runtime-dir';
import { VERSION } from '../shared/version';
import { ask } from './control';
import { currentDirectory } from './run-command';
import { diagnose, formatFindings } from './doctor';
import { UsageError } from './run-args';
import { say } from './say';
import { removeShims, writeShims } from './shims';
import * as path from 'node:path';
import { liveWorkers } from '../cluster/worker-directory';
import { formatStatus, formatWorkers } from './status';

/** Which python a run from here would use, and how it was chosen (version managers included). */
function interpreterHere(): string {
  try {
    const found = resolveInterpreter(undefined, process.env, currentDirectory());
    return `${found.path}${found.asIs ? ' (run as it is)' : ''}, chosen by ${found.how}`;
  } catch (err) {
    return (err as Error).message;
  }
}

export async function managementCommand(argv: string[]): Promise<number> {
  const { default: yargs } = await import('yargs');
  let status = 0;
  const paths = () => ensureRuntimeDir(runtimeDirFor());
  await yargs(argv)
    .scriptName('pynwheel')
    .usage('pynwheel: run Python scripts through a warm, forking interpreter.')
    .command('run [--python PATH] FILE [ARGS...]', 'run FILE (or -m MODULE) as `python3 FILE ARGS` would, through the daemon')
    .command('start', 'start the daemon if it is not running', {}, async () => {
      const fd = await connectOrStart(paths(), process.env);
      fs.closeSync(fd);
      const reply = await ask(paths(), { type: 'status' });
      say(1, `pynwheel daemon running (pid ${String(reply?.pid)})`);
    })
    .command('stop', 'stop the daemon and its zygotes', {}, async () => {
      const reply = await ask(paths(), { type: 'stop' });
      say(1, reply ? `pynwheel daemon stopped (pid ${String(reply.pid)})` : 'pynwheel daemon is not running');
    })
    .command('status', 'show the daemon and each zygote', (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }), async (args) => {
      const reply = await ask(paths(), { type: 'status' });
      const workers = liveWorkers(paths().dir);
      if (!reply) {
        say(1, args.json ? JSON.stringify({ running: false, workers }, null, 2) : ['pynwheel daemon is not running', ...formatWorkers(workers)].join('\n'));
        status = 3;
        return;
      }
      say(1, args.json ? JSON.stringify({ ...reply, workers, interpreterHere: interpreterHere() }, null, 2)
        : [formatStatus(reply), ...formatWorkers(workers), `interpreter here: ${interpreterHere()}`].join('\n'));
    })
    .command('shims DIR', 'write python, python3 and python3.N into DIR: with DIR first on PATH, `python3 ARGS` goes through pynwheel',
      (y) => y.positional('DIR', { type: 'string', demandOption: true }).option('remove', { type: 'boolean', describe: 'remove the shims from DIR' }),
      (args) => {
        const dir = path.resolve(currentDirectory(), String(args.DIR));
        if (args.remove) {
          const removed = removeShims(dir);
          say(1, removed.length ? `removed ${removed.join(' ')}` : `no pynwheel shims in ${dir}`);
        } else {
          const written = writeShims(dir, process.env);
          say(1, `${written.join(' ')}: pynwheel under python's names; put ${dir} first on PATH`);
        }
      })
    .command('doctor', 'check the runtime directory, the interpreter and the daemon', (y) => y.option('python', { type: 'string', describe: 'interpreter to check' }), async (args) => {
      const findings = await diagnose(process.env, currentDirectory(), args.python);
      say(1, formatFindings(findings));
      if (findings.some((f) => !f.ok)) status = 1;
    })
    .command('python-path', 'print the directory to put on PYTHONPATH to `import pynwheel` outside pynwheel runs', {}, () => {
      say(1, PYTHON_PACKAGE_HOME);
    })
    .example('PYTHONPATH=$(pynwheel python-path) python3 script.py', 'a script that imports pynwheel, run by python itself')
    .example('pynwheel run script.py --verbose', 'arguments after the script go to the script, as with python3')
    .example('#!/usr/bin/env pynwheel', 'first line of a script that runs through pynwheel')
    .demandCommand(1, 'name a command, or a script to run')
    .strict()
    .version(VERSION)
    .help()
    .fail((message, err) => {
      throw err ?? new UsageError(message);
    })
    .parseAsync();
  return status;
}
