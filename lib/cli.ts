// The `pynwheel` command. The run path parses its arguments by hand (they belong to the script
// verbatim, and yargs costs start-up time); the management commands use yargs.
import * as fs from 'node:fs';
import { runThroughDaemon, type RunOutcome } from './client';
import { ask } from './control';
import { connectOrStart } from './connect';
import { runDirectly } from './direct';
import { diagnose, formatFindings } from './doctor';
import { EXIT_PYNWHEEL_FAILED, PynwheelError } from './errors';
import { resolveInterpreter } from './interpreter';
import { native } from './native';
import { ensureRuntimeDir, runtimeDirFor } from './runtime-dir';
import { parseRunArgs, UsageError, type RunArgs } from './run-args';
import { VERSION } from './version';

const COMMANDS = new Set(['run', 'start', 'stop', 'status', 'doctor', 'help', '--help', '-h', '--version', '-V']);

// Messages go straight to fd 2: touching process.stdout/stderr would let libuv switch the
// terminal or pipe we share with the run to non-blocking mode.
function say(fd: 1 | 2, text: string): void {
  fs.writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === 'run') return runCommand(argv.slice(1));
  if (first === '--file' || (first !== undefined && !COMMANDS.has(first) && !first.startsWith('-'))) {
    // `pynwheel FILE ARGS` (a `#!/usr/bin/env pynwheel` script) and the spec's `--file` form.
    return runCommand(argv);
  }
  return managementCommand(argv);
}

async function runCommand(argv: string[]): Promise<number> {
  let parsed: RunArgs;
  try {
    parsed = parseRunArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      say(2, `pynwheel: ${err.message}\nusage: pynwheel run [--python PATH] FILE [ARGS...] | -m MODULE [ARGS...]`);
      return 2;
    }
    throw err;
  }
  const cwd = currentDirectory();
  const interpreter = resolveInterpreter(parsed.python, process.env, cwd);
  let outcome: RunOutcome;
  // PYTHONINSPECT asks for python's REPL after the script: the interpreter's own job.
  if (process.env.PYNWHEEL_DISABLE === '1' || parsed.file === '-' || process.env.PYTHONINSPECT) {
    const pythonArgs = parsed.module !== undefined ? ['-m', parsed.module, ...parsed.args] : [parsed.file!, ...parsed.args];
    outcome = await runDirectly(interpreter, pythonArgs, cwd, process.env);
  } else {
    restoreBlockingStdio();
    outcome = await runThroughDaemon(
      { file: parsed.file, module: parsed.module, args: parsed.args },
      { cwd, env: process.env, interpreter, stdio: [0, 1, 2], forwardSignals: true },
    );
  }
  if (outcome.signo !== null) native.dieBySignal(outcome.signo, outcome.core);
  return outcome.exitCode ?? EXIT_PYNWHEEL_FAILED;
}

/**
 * A shell hands python blocking stdio. If something in this Node process touched
 * process.stdout (a NODE_OPTIONS hook, say), libuv made the shared pipe non-blocking, and the
 * run would fail with BlockingIOError; Node itself restores the flag at exit, so do it now.
 */
function restoreBlockingStdio(): void {
  for (const fd of [0, 1, 2]) {
    try {
      native.setNonBlocking(fd, false);
    } catch {
      /* not open, or not ours to change */
    }
  }
}

function currentDirectory(): string {
  try {
    return process.cwd();
  } catch {
    return process.env.PWD && process.env.PWD.startsWith('/') ? process.env.PWD : '/';
  }
}

async function managementCommand(argv: string[]): Promise<number> {
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
      if (!reply) {
        say(1, 'pynwheel daemon is not running');
        status = 3;
        return;
      }
      say(1, args.json ? JSON.stringify(reply, null, 2) : formatStatus(reply));
    })
    .command('doctor', 'check the runtime directory, the interpreter and the daemon', (y) => y.option('python', { type: 'string', describe: 'interpreter to check' }), async (args) => {
      const findings = await diagnose(process.env, currentDirectory(), args.python);
      say(1, formatFindings(findings));
      if (findings.some((f) => !f.ok)) status = 1;
    })
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

function formatStatus(reply: Record<string, unknown>): string {
  const lines = [
    `daemon: pid ${String(reply.pid)}, pynwheel ${String(reply.version)}, up ${duration(Date.now() - Number(reply.startedAt))}, ` +
      `${String(reply.runs)} runs served, ${String(reply.active)} running`,
  ];
  const zygotes = (reply.zygotes as Array<Record<string, unknown>>) ?? [];
  if (!zygotes.length) lines.push('no zygotes');
  for (const z of zygotes) {
    const family = ((z.key as { family?: string[] } | undefined)?.family ?? []);
    lines.push(`zygote: pid ${String(z.pid)}  ${String(z.python)}  (Python ${String(z.version).split(' ')[0]})` +
      `  ${family.length ? `family: ${family.join(', ')}` : 'base: standard library only'}`);
    const key = z.key as { realPython?: string; env?: Record<string, string> } | undefined;
    const keyEnv = Object.entries(key?.env ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  key: ${String(key?.realPython)}${keyEnv ? ` with ${keyEnv}` : ''}`);
    const mib = (kib: unknown) => (typeof kib === 'number' ? `${(kib / 1024).toFixed(1)} MiB` : '?');
    lines.push(`  memory: RSS ${mib(z.rssKiB)}, PSS ${mib(z.pssKiB)}; watching ${String(z.watchedDirectories ?? 0)} directories for changes` +
      `${typeof z.staleCheckNs === 'number' ? ` (${(z.staleCheckNs / 1000).toFixed(1)} us a check)` : ''}`);
    const forks = (z.forks as { spare?: number; onDemand?: number } | undefined) ?? {};
    const lane = (z.lane as { served?: number; path?: string | null } | undefined) ?? {};
    lines.push(`  up ${duration(Date.now() - Number(z.startedAt))}, ${String(z.runs)} runs served (${forks.spare ?? 0} by a pre-forked child, ` +
      `${lane.served ?? 0} of them straight from their client), ${String(z.active)} running`);
    const preloaded = (z.preloaded as string[]) ?? [];
    lines.push(`  preloaded: ${preloaded.length ? preloaded.join(', ') : '(none yet)'}`);
    const unfit = Object.entries((z.unfit as Record<string, string>) ?? {});
    if (unfit.length) lines.push(`  kept out of the zygote: ${unfit.map(([m, why]) => `${m} (it ${why})`).join('; ')}`);
    const failed = Object.entries((z.failed as Record<string, string>) ?? {});
    if (failed.length) lines.push(`  failed to import: ${failed.map(([m, why]) => `${m} (${why})`).join('; ')}`);
    const notShared = Object.entries((z.notShared as Record<string, string>) ?? {});
    if (notShared.length) lines.push(`  run by the script itself: ${notShared.map(([m, why]) => `${m} (${why})`).join('; ')}`);
  }
  return lines.join('\n');
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

export function reportFailure(err: unknown): number {
  if (err instanceof UsageError) {
    say(2, `pynwheel: ${err.message}`);
    return 2;
  }
  if (err instanceof PynwheelError) {
    say(2, `pynwheel: ${err.message}`);
    return EXIT_PYNWHEEL_FAILED;
  }
  say(2, `pynwheel: internal error: ${(err as Error)?.stack ?? String(err)}`);
  return EXIT_PYNWHEEL_FAILED;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => process.exit(reportFailure(err)),
  );
}
