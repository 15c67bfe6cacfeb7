// Runs in the CLI: `pynwheel doctor` checks what a run depends on and explains any problem in
// plain words.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { environmentFor, resolveInterpreter } from '../client/interpreter';
import { checkRuntimeDir, LOG_LIMIT_BYTES, pathsIn, runtimeDirFor } from '../shared/runtime-dir';
import { VERSION } from '../shared/version';
import { ask } from './control';

export interface Finding {
  ok: boolean;
  what: string;
  /** For a problem: what to do about it. */
  fix?: string;
}

export async function diagnose(env: NodeJS.ProcessEnv, cwd: string, python?: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  const dir = runtimeDirFor(env);
  const paths = pathsIn(dir);
  let dirUsable = false;
  if (!fs.existsSync(dir)) {
    findings.push({ ok: true, what: `runtime directory ${dir} does not exist yet; the first run creates it (mode 0700)` });
  } else {
    try {
      checkRuntimeDir(dir);
      dirUsable = true;
      findings.push({ ok: true, what: `runtime directory ${dir} is private to you` });
    } catch (err) {
      findings.push({ ok: false, what: (err as Error).message });
    }
  }

  try {
    const interpreter = resolveInterpreter(python, env, cwd);
    if (interpreter.asIs) findings.push({ ok: true, what: `runs through ${interpreter.path} as it is (no warm runs): ${interpreter.how}` });
    const probe = spawnSync(interpreter.path, ['-c', 'import sys; print(sys.version.split()[0]); print(sys.version_info >= (3, 9)); print(sys.prefix != sys.base_prefix)'], { env: environmentFor(interpreter, env), encoding: 'utf8', timeout: 30_000 });
    const [version, supported, venv] = (probe.stdout ?? '').trim().split('\n');
    if (probe.status !== 0) {
      findings.push({ ok: false, what: `the interpreter ${interpreter.path} failed to start: ${(probe.stderr || probe.error?.message || '').trim()}`, fix: 'name a working one with --python or PYNWHEEL_PYTHON' });
    } else if (supported !== 'True') {
      findings.push({ ok: false, what: `the interpreter ${interpreter.path} is Python ${version}; pynwheel needs 3.9 or newer`, fix: 'name a newer one with --python or PYNWHEEL_PYTHON' });
    } else {
      findings.push({ ok: true, what: `interpreter ${interpreter.path} (Python ${version}${venv === 'True' ? ', a venv' : ''}), chosen by ${interpreter.how}` });
    }
  } catch (err) {
    findings.push({ ok: false, what: (err as Error).message, fix: 'install Python 3, or name one with --python or PYNWHEEL_PYTHON' });
  }

  if (dirUsable) {
    if (!fs.existsSync(paths.socket)) {
      findings.push({ ok: true, what: 'no daemon is running; the next run starts one' });
    } else {
      try {
        const reply = await ask(paths, { type: 'status' });
        if (!reply) {
          findings.push({ ok: true, what: `a daemon that died left ${paths.socket} behind; the next run replaces it` });
        } else if (reply.version !== VERSION) {
          findings.push({ ok: false, what: `the running daemon is pynwheel ${String(reply.version)}, this is ${VERSION}`, fix: 'nothing: the next run replaces it (or run `pynwheel stop`)' });
        } else {
          const zygotes = (reply.zygotes as unknown[]).length;
          findings.push({ ok: true, what: `daemon pid ${String(reply.pid)} answers (pynwheel ${VERSION}, ${zygotes} zygote${zygotes === 1 ? '' : 's'}, ${String(reply.runs)} runs served)` });
        }
      } catch (err) {
        findings.push({ ok: false, what: `the daemon at ${paths.socket} does not answer properly: ${(err as Error).message}`, fix: `run \`pynwheel stop\`; if that fails, kill the pid in ${path.join(dir, 'daemon.pid')}` });
      }
    }
    if (fs.existsSync(paths.log)) {
      const text = fs.readFileSync(paths.log, 'utf8');
      const errors = text.split('\n').filter((line) => /failed|error|refused|unfit|not keeping/i.test(line));
      const size = fs.statSync(paths.log).size;
      findings.push({ ok: true, what: `log ${paths.log}: ${size} bytes (bounded at ${LOG_LIMIT_BYTES})${errors.length ? `; last noteworthy line:\n    ${errors[errors.length - 1]}` : ''}` });
    }
  }
  return findings;
}

export function formatFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.ok ? 'ok     ' : 'PROBLEM'} ${f.what}${f.fix ? `\n        fix: ${f.fix}` : ''}`).join('\n');
}
