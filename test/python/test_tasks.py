"""pynwheel.tasks in the unittest process (the job): the result codes and pyATS's roll-up table
(against test/vectors/task-results.json), and tasks as forks: each result rule, max_runtime,
terminate, ids, kwargs, logs (header, footer, a forked process's own log, processes left running),
at_fork hooks, the process title, and a script's output in its log against `python3 script.py`."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from helpers import ROOT, VECTORS

import pynwheel
from pynwheel import tasks
from pynwheel.tasks import Aborted, Blocked, Errored, Failed, Passed, Passx, Skipped, Task, results

PYTHON_DIR = os.path.join(ROOT, "python")
HOOKED = []


def add(x, y=0):
    return x + y


def hooked():
    return list(HOOKED)


def mark_hook():
    HOOKED.append(os.getpid())


pynwheel.at_fork(mark_hook)  # (before the first task: the job's template is forked then)


class RollUp(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(VECTORS, "task-results.json")) as f:
            self.vectors = json.load(f)

    def test_the_whole_table(self):
        self.assertEqual(list(results.NAMES), self.vectors["names"])
        for a in self.vectors["names"]:
            for b in self.vectors["names"]:
                self.assertEqual((tasks.result(a) + tasks.result(b)).code, self.vectors["rollup"][a][b], (a, b))

    def test_chains_and_the_empty_rollup(self):
        for chain in self.vectors["chains"]:
            self.assertEqual(tasks.rollup(chain["results"]).code, chain["rollup"], chain)
        self.assertEqual(tasks.rollup([]), tasks.result(self.vectors["empty"]))

    def test_codes(self):
        self.assertEqual(Passed + Failed, Failed)
        self.assertEqual(Passx + Passed, Passx)
        self.assertEqual(Skipped + Passed, Passed)
        self.assertEqual(Aborted + Errored + Failed, Aborted)
        total = Passed
        total += Blocked
        self.assertEqual(total, "Blocked")
        self.assertEqual(Skipped("no device"), Skipped)
        self.assertEqual(str(Skipped("no device")), "Skipped: no device")
        self.assertEqual(repr(Passed), "Passed")
        self.assertEqual(list(results.SUCCESSFUL), self.vectors["successful"])
        with self.assertRaisesRegex(ValueError, "no such result 'Fine'"):
            tasks.result("Fine")
        import pickle
        self.assertEqual(pickle.loads(pickle.dumps(Blocked("x"))).reason, "x")


class Tasks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pynwheel-tasks-test-")
        cls.logs = os.path.join(cls.dir, "logs")
        cls.serial = 0
        with open(os.path.join(cls.dir, "codes_module.py"), "w") as f:
            f.write("from pynwheel.tasks import Failed, Passx\n"
                    "def failing():\n    return Failed('returned')\n"
                    "def passx():\n    return Passx\n")
        sys.path.insert(0, cls.dir)  # (before the first task: tasks are forks of the job's state then)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def script(self, source, name=None):
        Tasks.serial += 1
        path = os.path.join(self.dir, name or "script_%d.py" % Tasks.serial)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        return path

    def run_script(self, source, **options):
        options.setdefault("log_dir", self.logs)
        return tasks.run(self.script(source), **options)

    def log(self, result):
        with open(result.log_path, encoding="utf-8") as f:
            return f.read()

    def test_result_rules(self):
        cases = [
            ("print('fine')", "Passed", 0),
            ("import sys; sys.exit(0)", "Passed", 0),
            ("assert 1 == 2, 'arithmetic'", "Failed", 1),
            ("import sys; sys.exit(3)", "Failed", 3),
            ("import sys; sys.exit('bad input')", "Failed", 1),
            ("raise KeyError('k')", "Errored", 1),
            ("raise KeyboardInterrupt", "Aborted", None),
            ("import os, signal; os.kill(os.getpid(), signal.SIGINT)", "Aborted", None),
            ("from pynwheel.tasks import Skipped\nraise Skipped('no device')", "Skipped", 0),
            ("from pynwheel.tasks import Blocked\nraise Blocked", "Blocked", 0),
            ("import os; os._exit(4)", "Failed", 4),
            ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "Errored", None),
        ]
        for source, expected, status in cases:
            with self.subTest(source=source):
                ended = self.run_script(source)
                self.assertEqual(ended.result.code, expected, self.log(ended))
                self.assertEqual(ended.exit_code, status)
                self.assertIn("pynwheel: result: %s" % expected, self.log(ended))
        killed = self.run_script("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        self.assertEqual(killed.signal, signal.SIGKILL)
        self.assertEqual(killed.reason, "killed by SIGKILL")

    def test_function_targets_values_and_returned_codes(self):
        ended = tasks.run("json:dumps", args=([1, 2],), log_dir=self.logs, indent=None)
        self.assertEqual((ended.result, ended.value), (Passed, "[1, 2]"))
        self.assertEqual(tasks.run(add, args=(2,), y=5, log_dir=self.logs).value, 7)
        self.assertEqual(tasks.run("codes_module:failing", log_dir=self.logs).result, Failed)
        self.assertEqual(tasks.run("codes_module:passx", log_dir=self.logs).result, Passx)
        missing = tasks.run("no_such_module_here:f", log_dir=self.logs)
        self.assertEqual(missing.result, Errored)
        self.assertIn("ModuleNotFoundError", self.log(missing))

    def test_args_kwargs_and_current(self):
        ended = self.run_script("""
            import sys, pynwheel.tasks
            me = pynwheel.tasks.current()
            print(sys.argv[1:], me.taskid, sorted(me.kwargs.items()), __name__)
            """, args=["--fast", 3], taskid="with/slash", device="r1", retries=2)
        self.assertEqual(ended.taskid, "with_slash")
        self.assertTrue(ended.log_path.endswith("TaskLog.with_slash"))
        self.assertIn("['--fast', '3'] with_slash [('device', 'r1'), ('retries', 2)] __main__\n", self.log(ended))

    def test_ids(self):
        Task("json:dumps", taskid="unique-id", log_dir=self.logs)
        with self.assertRaisesRegex(ValueError, "duplicate task id 'unique-id'"):
            Task("json:dumps", taskid="unique-id", log_dir=self.logs)
        first, second = Task("json:dumps", log_dir=self.logs), Task("json:dumps", log_dir=self.logs)
        self.assertRegex(first.taskid, r"^Task-\d+$")
        self.assertEqual(int(second.taskid[5:]), int(first.taskid[5:]) + 1)
        with self.assertRaises(ValueError):
            Task("json:dumps", max_runtime=0)

    def test_max_runtime_terminate_and_the_task_interface(self):
        ended = self.run_script("import time; print('started', flush=True); time.sleep(30)", max_runtime=0.5)
        self.assertEqual((ended.result, ended.signal), (Aborted, signal.SIGTERM))
        self.assertIn("max_runtime of 0.5 s exceeded: SIGTERM", self.log(ended))
        stubborn = self.run_script("""
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print('ignoring', flush=True)
            time.sleep(30)
            """, max_runtime=0.3)
        self.assertEqual((stubborn.result, stubborn.signal), (Aborted, signal.SIGKILL))
        self.assertIn("still running 5 s after SIGTERM: SIGKILL", self.log(stubborn))
        task = Task(self.script("import time; time.sleep(30)"), log_dir=self.logs)
        self.assertIsNone(task.pid)
        task.start()
        self.assertTrue(task.is_alive())
        self.assertFalse(task.join(0.05))
        self.assertEqual(os.getpgid(task.pid), task.pid)  # its own process group
        task.terminate()
        self.assertEqual(task.wait(), Aborted)
        self.assertFalse(task.is_alive())
        self.assertEqual(task.task_result.reason, "terminated")
        waited = Task(self.script("import time; time.sleep(30)"), log_dir=self.logs).start()
        self.assertEqual(waited.wait(0.2), Aborted)

    def test_a_forked_process_gets_its_own_log(self):
        ended = self.run_script("""
            import os, multiprocessing
            print('before fork', flush=True)
            pid = os.fork()
            if pid == 0:
                print('in the child'); os._exit(0)
            os.waitpid(pid, 0)
            def work():
                print('in a multiprocessing child')
            p = multiprocessing.get_context('fork').Process(target=work); p.start(); p.join()
            print('after fork')
            """)
        text = self.log(ended)
        self.assertEqual(ended.result, Passed, text)
        logs = sorted(name for name in os.listdir(self.logs) if name.startswith(os.path.basename(ended.log_path) + ":pid-"))
        self.assertEqual(len(logs), 2, logs)
        contents = []
        for name in logs:
            self.assertIn("writes to its own log: %s" % name, text)
            with open(os.path.join(self.logs, name)) as f:
                contents.append(f.read())
        self.assertIn("in the child\n", "".join(contents))
        self.assertIn("in a multiprocessing child\n", "".join(contents))
        self.assertNotIn("in the child", text)
        self.assertIn("before fork\n", text)
        self.assertIn("after fork\n", text)

    def test_processes_left_running_end_with_the_task(self):
        ended = self.run_script("""
            import subprocess
            child = subprocess.Popen(['sleep', '300'])
            print('left', child.pid, flush=True)
            """)
        text = self.log(ended)
        pid = int(text.split("left ")[1].split()[0])
        self.assertEqual(ended.left, [pid])
        self.assertIn("ends 1 process(es) it left running: %d (sleep)" % pid, text)
        self.assertFalse(os.path.exists("/proc/%d" % pid) and open("/proc/%d/stat" % pid).read().split()[2] != "Z")
        died = self.run_script("""
            import os, subprocess
            child = subprocess.Popen(['sleep', '300'])
            print('left', child.pid, flush=True)
            os._exit(0)
            """)
        pid = int(self.log(died).split("left ")[1].split()[0])
        self.assertEqual(died.left, [pid])
        self.assertIn("it left 1 process(es) running: %d (sleep): SIGKILL" % pid, self.log(died))

    def test_hooks_title_and_header(self):
        self.assertEqual(len(tasks.run(hooked, log_dir=self.logs).value), 1)  # in the task's process, once
        ended = self.run_script("with open('/proc/self/cmdline', 'rb') as f: print(f.read())", taskid="titled")
        text = self.log(ended)
        self.assertIn("b'pynwheel task: titled - %s\\x00'" % ended.target, text)
        for field in ("task titled", "script: %s" % ended.target, "args: []", "pid: ", "start: ", "interpreter: %s" % sys.executable):
            self.assertIn("pynwheel: " + field, text)
        self.assertRegex(text, r"pynwheel: duration: \d+\.\d{3} s\n$")

    def test_output_in_the_log_is_python3s(self):
        source = """
            import logging, sys, warnings
            print('out', sys.argv[1:])
            print('err', file=sys.stderr)
            logging.warning('a record')
            warnings.warn('careful')
            def inner():
                raise ValueError('broken')
            inner()
            """
        path = self.script(source)
        expected = subprocess.run([sys.executable, path, "x"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, PYTHONPATH=PYTHON_DIR)).stdout.decode()
        ended = tasks.run(path, args=["x"], log_dir=self.logs)
        text = self.log(ended)
        body = text.split("-" * 60 + "\n")[1]
        self.assertEqual(body, expected)
        self.assertEqual(ended.result, Errored)

    def test_a_last_line_without_newline_keeps_the_footer_on_its_own_line(self):
        ended = self.run_script("""
            import sys
            sys.stdout.write('no newline')
            """)
        text = self.log(ended)
        self.assertIn("\nno newline\n" + "-" * 60 + "\npynwheel: result: Passed", text)

    def test_pcall(self):
        self.assertEqual(tasks.pcall(add, iargs=[(1,), (2,), (3,)], ckwargs={"y": 10}, log_dir=self.logs), (11, 12, 13))
        with self.assertRaises(tasks.TasksFailed) as caught:
            tasks.pcall("operator:truediv", iargs=[(1, 1), (1, 0)], log_dir=self.logs)
        self.assertEqual([r.result for r in caught.exception.results], [Passed, Errored])


if __name__ == "__main__":
    unittest.main()
