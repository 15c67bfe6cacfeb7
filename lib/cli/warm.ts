// Runs in the CLI: `pynwheel warm FILE | -m MODULE | --packages a,b,...`: the zygote a script, a
// module or a set of packages needs, made ready ahead of any run (a shell's start-up file, a
// container's entry point, CI's set-up step); it returns once it is warm. A progress line on a
// terminal, nothing on a pipe; `--background` returns at once.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isatty } from 'node:tty';
import { connectOrStart, replaceDaemon } from '../client/connect';
import { environmentFor, resolveInterpreter } from '../client/interpreter';
import { FdChannel } from '../shared/channel';
import { PynwheelError } from '../shared/errors';
import { closeQuietly } from '../shared/fds';
import type { WarmRequest } from '../shared/messages';
import { native } from '../shared/native';
import { terminalSession } from '../shared/proc-stat';
import { MAX_CLIENT_FRAME } from '../shared/protocol-constants';
import { ensureRuntimeDir, runtimeDirFor, type RuntimePaths } from '../shared/runtime-dir';
import { VERSION } from '../shared/version';
import { currentDirectory, EXIT_PYNWHEEL_FAILED } from './run-command';
import { say } from './say';

const USAGE = 'usage: pynwheel warm [--python PATH] [--background] (FILE | -m MODULE | --packages a,b,...)';
const MODULE_NAME = /^[\p{L}_][\p{L}\p{N}_]*(\.[\p{L}_][\p{L}\p{N}_]*)*$/u;
/** How often the progress line's clock moves. */
const PROGRESS_TICK_MS = 100;

interface WarmArgs {
  python?: string;
  background: boolean;
  file?: string;
  module?: string;
  packages?: string[];
}

class WarmUsage extends Error {}

function parseWarmArgs(argv: string[]): WarmArgs {
  const out: WarmArgs = { background: false };
  const value = (i: number, flag: string): string => {
    if (argv[i] === undefined) throw new WarmUsage(`${flag} needs a value`);
    return argv[i];
  };
  let targets = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--background') out.background = true;
    else if (arg === '--python') out.python = value(++i, arg);
    else if (arg.startsWith('--python=')) out.python = arg.slice(9);
    else if (arg === '-m') { out.module = value(++i, arg); targets++; }
    else if (arg === '--packages' || arg.startsWith('--packages=')) {
      const list = arg === '--packages' ? value(++i, arg) : arg.slice(11);
      out.packages = list.split(',').map((p) => p.trim()).filter(Boolean);
      targets++;
    } else if (arg.startsWith('-') && arg !== '-') throw new WarmUsage(`unknown option ${arg}`);
    else { out.file = arg; targets++; }
  }
  if (targets !== 1) throw new WarmUsage(targets === 0 ? 'nothing to warm' : 'one of FILE, -m MODULE and --packages, once');
  if (out.file === '-') throw new WarmUsage('a script on stdin cannot be warmed');
  if (out.module !== undefined && !MODULE_NAME.test(out.module)) throw new WarmUsage(`${JSON.stringify(out.module)} is not a module name`);
  if (out.packages !== undefined && (out.packages.length === 0 || !out.packages.every((p) => MODULE_NAME.test(p)))) {
    throw new WarmUsage(`--packages takes module names separated by commas (${JSON.stringify(argv.join(' '))})`);
  }
  return out;
}

export async function warmCommand(argv: string[]): Promise<number> {
  let args: WarmArgs;
  try {
    args = parseWarmArgs(argv);
  } catch (err) {
    if (!(err instanceof WarmUsage)) throw err;
    say(2, `pynwheel warm: ${err.message}\n${USAGE}`);
    return 2;
  }
  const cwd = currentDirectory();
  if (args.file !== undefined) {
    // As python would say it, before anything starts.
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(path.resolve(cwd, args.file));
    } catch (err) {
      say(2, `pynwheel warm: can't open file ${JSON.stringify(path.resolve(cwd, args.file))}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (err as Error).message}`);
      return 2;
    }
    if (!stat.isFile()) {
      say(2, `pynwheel warm: ${JSON.stringify(args.file)} is not a file`);
      return 2;
    }
  }
  if (args.background) {
    // The same command, left to run on its own (in this process group, so a terminal's session
    // zygote can still be started by it); nothing of it on our stdio.
    const child = spawn(process.execPath, [process.argv[1], 'warm', ...argv.filter((a) => a !== '--background')], {
      stdio: 'ignore', cwd, env: process.env,
    });
    child.unref();
    return 0;
  }
  const interpreter = resolveInterpreter(args.python, process.env, cwd, args.module);
  const env = Object.fromEntries(Object.entries(environmentFor(interpreter, process.env)).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const session = terminalSession();
  const tty = isatty(2);
  const request: WarmRequest = {
    type: 'warm', client: VERSION, cwd, env, python: interpreter.path,
    ...(args.file !== undefined ? { file: args.file } : args.module !== undefined ? { module: args.module } : { packages: args.packages }),
    ...(session !== undefined ? { session } : {}),
    ...(tty ? { progress: true } : {}),
  };
  const what = args.file ?? (args.module !== undefined ? `-m ${args.module}` : `--packages ${args.packages!.join(',')}`);
  const paths = ensureRuntimeDir(runtimeDirFor(process.env));
  try {
    let reply;
    try {
      reply = await warmOnce(paths, request, what, tty);
    } catch (err) {
      if (!(err instanceof PynwheelError) || err.code !== 'EVERSION') throw err;
      await replaceDaemon(paths); // a daemon of another version: replaced, once
      reply = await warmOnce(paths, request, what, tty);
    }
    if (tty) {
      const preloaded = (reply.preloaded as string[]) ?? [];
      say(2, `pynwheel: warm: ${what} (${preloaded.length ? preloaded.join(', ') : 'standard library only'}) in ${seconds(Number(reply.ms))}`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof PynwheelError)) throw err;
    say(2, `pynwheel warm: ${err.message}`);
    return EXIT_PYNWHEEL_FAILED;
  }
}

/** The request to the daemon, started if need be; resolves its `warm` reply. */
async function warmOnce(paths: RuntimePaths, request: WarmRequest, what: string, tty: boolean): Promise<Record<string, unknown>> {
  const channel = new FdChannel(await connectOrStart(paths, process.env), MAX_CLIENT_FRAME);
  const started = Date.now();
  let importing = '';
  const line = (): void => {
    // One line, rewritten in place: what is importing, how long so far.
    fs.writeSync(2, `\r\x1b[Kpynwheel: warming ${what}${importing ? `: importing ${importing}` : ''} (${seconds(Date.now() - started)})`);
  };
  const ticker = tty ? setInterval(line, PROGRESS_TICK_MS) : undefined;
  if (tty) line();
  try {
    return await new Promise((resolve, reject) => {
      let reply: Record<string, unknown> | null = null;
      channel.on('frame', ({ message, fds }) => {
        if (message.type === 'start-zygote') {
          // Its terminal session's zygote, which only a process of the session can start: now
          // (a run's client starts it after its run; this one waits for it).
          try {
            if (fds.length === 3 && typeof message.argv === 'string' && typeof message.env === 'string') {
              native.spawnDetached(message.argv.split('\0'), message.env === '' ? [] : message.env.split('\0'), fds as [number, number, number]);
            }
          } finally {
            fds.forEach(closeQuietly);
          }
          return;
        }
        fds.forEach(closeQuietly);
        if (message.type === 'importing') {
          importing = String(message.module);
          if (tty) line();
          return;
        }
        reply = message;
        channel.destroy();
      });
      channel.on('close', (err) => {
        if (reply?.type === 'warm') resolve(reply);
        else if (reply?.type === 'error') reject(new PynwheelError(String(reply.code), String(reply.message)));
        else reject(new PynwheelError('EDAEMON', `lost the pynwheel daemon before the zygote was warm${err ? ` (${err.message})` : ''}`));
      });
      channel.send(request as unknown as Record<string, unknown> & { type: string });
    });
  } finally {
    clearInterval(ticker);
    if (tty) fs.writeSync(2, '\r\x1b[K');
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
