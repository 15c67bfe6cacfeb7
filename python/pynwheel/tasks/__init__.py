"""pynwheel.tasks: pyATS-style tasks, each a fork (runs in the job's process and in its tasks).

    from pynwheel.tasks import run, Task, pcall, Passed, Failed, Skipped
    result = run("test_login.py", taskid="login", args=["--fast"], max_runtime=60, device="r1")
    task = Task("checks:ping", host="r1").start(); task.wait(30)

A task runs a script as __main__ (with sys.argv = [script] + args), a 'module:function' (called
with *args, **kwargs) or a function; in a task, `current()` tells its taskid, args, kwargs and
log path. Results: Passed, Failed, Aborted, Blocked, Skipped, Errored, Passx, rolled up with `+`
as pyATS does (results.py). Logs: `TaskLog.<taskid>` in the log directory (tasklog.py).
"""

from pynwheel.tasks.results import (Aborted, Blocked, Errored, Failed, Passed, Passx, Result, Skipped, result,
                                    rollup)
from pynwheel.tasks.task import Task, TaskResult, TasksFailed, pcall, run, run_all
from pynwheel.tasks.body import current

__all__ = ["Passed", "Failed", "Aborted", "Blocked", "Skipped", "Errored", "Passx", "Result", "result", "rollup",
           "Task", "TaskResult", "TasksFailed", "run", "run_all", "pcall", "current"]
