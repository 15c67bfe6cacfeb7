"""The job driver that `pynwheel tasks` and Node's runTasks() run (a warm run of a small file that
calls main(), or `python -m pynwheel.tasks SPEC`): runs in the job's process. It reads a job spec
(JSON) and writes one JSON line per event on its stdout (the tasks' output goes to their logs):

  spec: {"tasks": [{"id"?, "file" | "module" | "target", "args"?, "kwargs"?, "maxRuntime"?}],
         "concurrency"?, "logDir"?, "maxRuntime"?}
  events: {"event": "job", "logDir", "tasks": [ids]}
          {"event": "started", "id", "pid", "log"}
          {"event": "finished", ...a TaskResult's to_json()}
          {"event": "terminal", "id", "pid", "held"}  (written by a task whose pdb takes or gives
              back the job's terminal: terminal.py)
          {"event": "summary", "result", "interrupted", "resultsFile", "reportFile", "counts"}

`file` is a script (run as __main__ with args), `module` a module run as `python -m MODULE ARGS`,
`target` a 'module:function' called with args and kwargs.
The rules (results, logs, ids, max_runtime) are pynwheel.tasks' own: nothing is decided in Node.
Exit status: 0 when the roll-up is Passed, Passx or Skipped, else 1; 2 for a bad spec.
"""

import json
import os
import signal
import sys

from pynwheel.tasks import results, summary, task as tasks_module
from pynwheel.tasks.task import Task

SPEC_KEYS = {"id", "file", "module", "target", "args", "kwargs", "maxRuntime"}


class SpecError(ValueError):
    pass


def load_spec(text):
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise SpecError("the job spec is not JSON: %s" % exc) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("tasks"), list) or not spec["tasks"]:
        raise SpecError("the job spec is an object with a non-empty list 'tasks'")
    return spec


def make_tasks(spec):
    log_dir = spec.get("logDir") or tasks_module.DEFAULT_LOG_DIR
    default_runtime = spec.get("maxRuntime")
    made = []
    for number, entry in enumerate(spec["tasks"], 1):
        where = "task %d" % number
        if not isinstance(entry, dict):
            raise SpecError("%s is not an object: %r" % (where, entry))
        unknown = set(entry) - SPEC_KEYS
        if unknown:
            raise SpecError("%s has unknown keys: %s (known: %s)" % (where, ", ".join(sorted(unknown)), ", ".join(sorted(SPEC_KEYS))))
        targets = [key for key in ("file", "module", "target") if entry.get(key)]
        if len(targets) != 1:
            raise SpecError("%s names exactly one of file, module, target (it has %s)" % (where, ", ".join(targets) or "none"))
        target = entry[targets[0]]
        if not isinstance(target, str):
            raise SpecError("%s: %s is a string, not %r" % (where, targets[0], target))
        if targets[0] == "target" and ":" not in target:
            raise SpecError("%s: target %r is not 'module:function'" % (where, target))
        if targets[0] == "module":
            target = "-m " + target
        args = entry.get("args") or []
        kwargs = entry.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise SpecError("%s: args is a list and kwargs an object" % where)
        runtime = entry.get("maxRuntime", default_runtime)
        try:
            made.append(Task(target, taskid=entry.get("id"), args=args, max_runtime=runtime, log_dir=log_dir, **kwargs))
        except (TypeError, ValueError) as exc:
            raise SpecError("%s: %s" % (where, exc)) from None
    return made, os.path.abspath(log_dir)


def main(argv=None, out=None):
    argv = sys.argv[1:] if argv is None else argv
    out = out or sys.stdout
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m pynwheel.tasks SPEC.json   (or - for stdin; see pynwheel/tasks/driver.py)", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if argv[0] == "-" else open(argv[0], encoding="utf-8").read()
        spec = load_spec(text)
        made, log_dir = make_tasks(spec)
        concurrency = spec.get("concurrency") or os.cpu_count() or 1
        if not isinstance(concurrency, int) or concurrency < 1:
            raise SpecError("concurrency is an integer >= 1, not %r" % (concurrency,))
    except (OSError, SpecError) as exc:
        print("pynwheel tasks: %s" % exc, file=sys.stderr)
        return 2

    def emit(event):
        out.write(json.dumps(event, default=repr) + "\n")
        out.flush()

    def on_event(kind, task):
        if kind == "started":
            emit({"event": "started", "id": task.taskid, "pid": task.pid, "log": task.log_path})
        else:
            emit(dict(task.task_result.to_json(), event="finished"))

    out.flush()
    try:
        tasks_module.EVENTS_FD = out.fileno()
    except (AttributeError, OSError, ValueError):
        pass  # (not a file: no terminal events)
    emit({"event": "job", "logDir": log_dir, "tasks": [t.taskid for t in made], "concurrency": concurrency})
    interrupted = False
    signal.signal(signal.SIGTERM, _interrupt)  # (a job ended by SIGTERM ends its tasks as Ctrl-C does)
    try:
        tasks_module.run_all(made, concurrency, on_event)
    except KeyboardInterrupt:
        interrupted = True
    ended = [t.task_result for t in made if t.task_result is not None]
    results_file, report_file = summary.write(log_dir, ended, interrupted)
    total = summary.rolled_up(ended) if not interrupted else summary.rolled_up(ended) + results.Aborted
    counts = {}
    for r in ended:
        counts[r.result.code] = counts.get(r.result.code, 0) + 1
    emit({"event": "summary", "result": total.code, "interrupted": interrupted, "resultsFile": results_file,
          "reportFile": report_file, "counts": counts, "notStarted": [t.taskid for t in made if t.pid is None]})
    return 0 if total.code in results.SUCCESSFUL else 1


def _interrupt(signo, frame):
    raise KeyboardInterrupt
