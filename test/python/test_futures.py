"""pynwheel.futures.Executor against concurrent.futures.ProcessPoolExecutor (fork context), task
for task: the same results, exceptions, map, shutdown, as_completed and wait; and what only
pynwheel's does (a crashed task fails its own future, at_fork hooks, the refused functions, no
process, thread or fd left behind). Runs in the unittest process (a caller with one thread)."""

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import warnings

from helpers import ROOT, open_fds

import pynwheel
from pynwheel.futures import Executor, TaskDied, TemplateGone

PYTHON_DIR = os.path.join(ROOT, "python")


def square(x):
    return x * x


def add(x, y):
    return x + y


def fail(message):
    raise KeyError(message)


def exit_task(code):
    sys.exit(code)


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def unpicklable_result():
    return threading.Lock()


def die(code):
    os._exit(code)


def kill_self(signo):
    os.kill(os.getpid(), signo)
    time.sleep(5)


def segfault():
    ctypes.string_at(0)


def my_pid():
    return os.getpid()


def wait_for_peer(directory, me, other):
    """True once the other task has started too: both ran at the same time."""
    open(os.path.join(directory, me), "w").close()
    for _ in range(500):
        if os.path.exists(os.path.join(directory, other)):
            return True
        time.sleep(0.01)
    return False


HOOK_RUNS = []


def record_hook():
    HOOK_RUNS.append(os.getpid())


def hook_runs():
    return list(HOOK_RUNS)


STATE = {"set": "before"}


def read_state():
    return STATE["set"]


def process_pool(workers):
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def outcome(future):
    """What a user sees of a future: its value, or its exception's type and args."""
    try:
        return ("ok", future.result(timeout=30))
    except cf.CancelledError:
        return ("cancelled",)
    except BaseException as exc:
        return ("error", type(exc).__name__, exc.args)


class SameAsProcessPool(unittest.TestCase):
    """The same tasks on both executors give what a user would see as the same."""

    def setUp(self):
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork beside the pool's own threads
        self.addCleanup(warnings.resetwarnings)

    def both(self, workers, scenario):
        with process_pool(workers) as pool:
            theirs = scenario(pool)
        for thread in threading.enumerate():  # (its threads may outlive a shutdown(wait=False))
            if thread is not threading.current_thread():
                thread.join(30)
        with Executor(workers) as executor:
            ours = scenario(executor)
        self.assertEqual(ours, theirs)
        return ours

    def test_submit_results_and_exceptions(self):
        def scenario(ex):
            futures = [ex.submit(square, 7), ex.submit(add, "a", y="b"), ex.submit(fail, "nope"), ex.submit(exit_task, 4),
                       ex.submit(unpicklable_result), ex.submit(square, 10 ** 30)]
            return [outcome(f) for f in futures]
        got = self.both(2, scenario)
        self.assertEqual(got[0], ("ok", 49))
        self.assertEqual(got[2], ("error", "KeyError", ("nope",)))
        self.assertEqual(got[3], ("error", "SystemExit", (4,)))
        self.assertEqual(got[4][:2], ("error", "TypeError"))

    def test_the_remote_traceback_is_the_cause(self):
        def scenario(ex):
            try:
                ex.submit(fail, "x").result()
            except KeyError as exc:
                cause = str(exc.__cause__)
                return cause.startswith('\n"""\nTraceback (most recent call last):'), "raise KeyError(message)\nKeyError: 'x'\n" in cause
        self.assertEqual(self.both(1, scenario), (True, True))

    def test_map_with_chunksize_and_several_iterables(self):
        def scenario(ex):
            return [list(ex.map(square, range(23), chunksize=size)) for size in (1, 3, 7, 100)] + [list(ex.map(add, range(5), range(10, 30)))]
        got = self.both(3, scenario)
        self.assertEqual(got[1], [x * x for x in range(23)])

    def test_map_bad_chunksize(self):
        def scenario(ex):
            try:
                ex.map(square, [1], chunksize=0)
            except ValueError as exc:
                return str(exc)
        self.assertEqual(self.both(1, scenario), "chunksize must be >= 1.")

    def test_map_timeout(self):
        def scenario(ex):
            results = ex.map(sleep_then, [0, 3], ["fast", "slow"], timeout=0.5)
            first = next(results)
            try:
                next(results)
            except cf.TimeoutError:
                return first, "timeout"
        self.assertEqual(self.both(2, scenario), ("fast", "timeout"))

    def test_map_raises_the_tasks_exception_in_order(self):
        def scenario(ex):
            results = ex.map(square, [1, 2, "x", 4])
            got = [next(results), next(results)]
            try:
                next(results)
            except TypeError as exc:
                return got, str(exc)
        self.assertEqual(self.both(2, scenario)[0], [1, 4])

    def test_as_completed_and_wait(self):
        def scenario(ex):
            slow = ex.submit(sleep_then, 1.0, "slow")
            fast = ex.submit(sleep_then, 0, "fast")
            first = next(cf.as_completed([slow, fast], timeout=30)).result()
            done, not_done = cf.wait([slow, fast], timeout=0)
            waited = cf.wait([slow, fast], return_when=cf.ALL_COMPLETED, timeout=30)
            bad = ex.submit(fail, "first")
            other = ex.submit(sleep_then, 1.0, "other")
            first_exception = cf.wait([bad, other], return_when=cf.FIRST_EXCEPTION, timeout=30)
            return (first, len(not_done) >= 1, sorted(f.result() for f in waited.done), bad in first_exception.done,
                    sorted(f.result() for f in cf.as_completed([slow, fast, other])))
        self.assertEqual(self.both(2, scenario), ("fast", True, ["fast", "slow"], True, ["fast", "other", "slow"]))

    def test_shutdown_cancel_futures(self):
        def scenario(ex):
            running = ex.submit(sleep_then, 0.5, "ran")
            time.sleep(0.2)
            queued = [ex.submit(square, i) for i in range(6)]
            ex.shutdown(wait=True, cancel_futures=True)
            try:
                ex.submit(square, 1)
            except RuntimeError as exc:
                refused = str(exc)
            return running.result(), queued[-1].cancelled(), all(f.done() for f in queued), refused
        self.assertEqual(self.both(1, scenario), ("ran", True, True, "cannot schedule new futures after shutdown"))

    def test_shutdown_without_waiting_still_runs_what_was_submitted(self):
        def scenario(ex):
            futures = [ex.submit(sleep_then, 0.1, i) for i in range(4)]
            ex.shutdown(wait=False)
            return [f.result(timeout=30) for f in futures]
        self.assertEqual(self.both(2, scenario), [0, 1, 2, 3])

    def test_the_context_manager_waits_for_every_task(self):
        def scenario(ex):
            with ex:
                futures = [ex.submit(sleep_then, 0.05, i) for i in range(5)]
            return [f.done() for f in futures], [f.result() for f in futures]
        self.assertEqual(self.both(2, scenario), ([True] * 5, [0, 1, 2, 3, 4]))

    def test_max_workers(self):
        for make in (process_pool, Executor):
            with self.assertRaisesRegex(ValueError, "^max_workers must be greater than 0$"):
                make(0)
        with Executor() as executor:
            self.assertEqual(executor._max_workers, os.cpu_count())

    def test_done_callbacks_and_cancel_of_a_queued_future(self):
        def scenario(ex):
            seen = []
            blocker = ex.submit(sleep_then, 0.3, "b")
            queued = ex.submit(square, 3)
            cancelled = queued.cancel()
            done = threading.Event()
            later = ex.submit(square, 4)
            later.add_done_callback(lambda f: (seen.append(f.result()), done.set()))
            done.wait(30)
            return blocker.result(), cancelled, queued.cancelled(), seen
        # (ProcessPoolExecutor may already have moved the second task to its call queue.)
        with Executor(1) as executor:
            self.assertEqual(scenario(executor), ("b", True, True, [16]))


class OnlyPynwheel(unittest.TestCase):
    """What ProcessPoolExecutor does not do (or does otherwise)."""

    def test_a_crashing_task_fails_its_own_future_and_the_executor_goes_on(self):
        before = open_fds()
        with Executor(2) as executor:
            futures = [executor.submit(square, 2), executor.submit(die, 3), executor.submit(kill_self, signal.SIGKILL),
                       executor.submit(segfault), executor.submit(square, 5)]
            self.assertEqual(futures[0].result(30), 4)
            self.assertEqual(futures[4].result(30), 25)
            for future, exitcode, signo in ((futures[1], 3, None), (futures[2], None, signal.SIGKILL), (futures[3], None, signal.SIGSEGV)):
                exc = future.exception(30)
                self.assertIsInstance(exc, TaskDied)
                self.assertEqual((exc.exitcode, exc.signal), (exitcode, signo))
            self.assertRegex(str(futures[1].exception()), r"^task \d+ exited with status 3 before it returned$")
            self.assertRegex(str(futures[2].exception()), r"^task \d+ died of signal 9 \(SIGKILL\)$")
            self.assertRegex(str(futures[3].exception()), r"^task \d+ died of signal 11 \(SIGSEGV\)")
            self.assertEqual(list(executor.map(square, range(4))), [0, 1, 4, 9], "it keeps working")
        self.assertEqual(open_fds(), before, "no fd left open")
        self.assertEqual(threading.active_count(), 1, "its thread has gone")
        with self.assertRaises(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)  # no child of this process is left

    def test_each_task_is_a_fork_of_the_state_at_the_start(self):
        STATE["set"] = "before"
        with Executor(2) as executor:
            STATE["set"] = "after"
            self.assertEqual(executor.submit(read_state).result(30), "before")
            pids = {executor.submit(my_pid).result(30) for _ in range(3)}
        STATE["set"] = "before"
        self.assertEqual(len(pids), 3, "a process per task")
        self.assertNotIn(os.getpid(), pids)

    def test_tasks_run_at_the_same_time(self):
        with tempfile.TemporaryDirectory() as directory, Executor(2) as executor:
            a = executor.submit(wait_for_peer, directory, "a", "b")
            b = executor.submit(wait_for_peer, directory, "b", "a")
            self.assertEqual((a.result(30), b.result(30)), (True, True))

    def test_at_fork_hooks_run_in_every_task_and_not_in_the_caller(self):
        self.assertIs(pynwheel.at_fork(record_hook), record_hook)
        self.addCleanup(pynwheel.hooks._hooks.remove, record_hook)
        with Executor(2) as executor:
            runs = [executor.submit(hook_runs).result(30) for _ in range(3)]
            pids = [executor.submit(my_pid).result(30) for _ in range(2)]
        self.assertEqual(len(runs), 3)
        for run in runs:
            self.assertEqual(len(run), 1, "once in each task, in the task itself")
        self.assertEqual(len({run[0] for run in runs}), 3)
        self.assertEqual(HOOK_RUNS, [], "never in the caller")
        self.assertEqual(len(set(pids)), 2)
        with self.assertRaisesRegex(TypeError, "at_fork\\(\\) takes a callable"):
            pynwheel.at_fork(3)

    def test_a_hook_registered_after_an_executor_started_is_not_run_by_it_and_says_so(self):
        with Executor(1) as executor:
            with self.assertWarnsRegex(RuntimeWarning, "an Executor of this process has started already"):
                pynwheel.at_fork(record_hook)
            self.addCleanup(pynwheel.hooks._hooks.remove, record_hook)
            self.assertEqual(executor.submit(hook_runs).result(30), [])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pynwheel.at_fork(segfault_free_failure)  # no Executor running: no warning
        pynwheel.hooks._hooks.remove(segfault_free_failure)
        with Executor(1) as executor:
            self.assertEqual(len(executor.submit(hook_runs).result(30)), 1, "a later Executor runs it")

    def test_a_failing_hook_fails_the_task(self):
        pynwheel.at_fork(segfault_free_failure)
        self.addCleanup(pynwheel.hooks._hooks.remove, segfault_free_failure)
        with Executor(1) as executor:
            with self.assertRaisesRegex(OSError, "^no connection$"):
                executor.submit(square, 1).result(30)

    def test_other_threads_refuse_the_executor(self):
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, name="busy-thread")
        thread.start()
        try:
            with self.assertRaisesRegex(RuntimeError, "threads running: 'busy-thread'"):
                Executor(1)
        finally:
            stop.set()
            thread.join()

    def test_the_callers_own_fork_waits_for_the_bookkeeping_thread_and_the_copy_is_inert(self):
        warnings.simplefilter("ignore", DeprecationWarning)
        self.addCleanup(warnings.resetwarnings)
        with Executor(1) as executor:
            slow = executor.submit(sleep_then, 0.5, "slow")
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                try:
                    executor.submit(square, 2)
                    message = b"submitted"
                except RuntimeError as exc:
                    message = str(exc).encode()
                os.write(write, message)
                os._exit(0)
            os.close(write)
            with os.fdopen(read, "rb") as f:
                said = f.read().decode()
            _, status = os.waitpid(pid, 0)
            self.assertEqual(status, 0)
            self.assertRegex(said, r"^this Executor belongs to the process that created it \(pid \d+\), not to a fork of it$")
            self.assertEqual(slow.result(30), "slow")

    def test_a_done_callback_may_submit(self):
        with Executor(2) as executor:
            chained = []
            done = threading.Event()

            def then(future):
                second = executor.submit(square, future.result())
                second.add_done_callback(lambda f: (chained.append(f.result()), done.set()))
            executor.submit(square, 3).add_done_callback(then)
            self.assertTrue(done.wait(30))
            self.assertEqual(chained, [81])

    def test_many_tasks_large_values_and_an_executor_in_a_task(self):
        with Executor(4) as executor:
            futures = [executor.submit(add, i, i) for i in range(200)]
            self.assertEqual([f.result(60) for f in futures], [2 * i for i in range(200)])
            self.assertEqual(executor.submit(len, b"y" * (20 << 20)).result(60), 20 << 20)
            self.assertEqual(len(executor.submit(big, 30 << 20).result(60)), 30 << 20)
            self.assertEqual(executor.submit(nested, 5).result(60), ([0, 1, 4, 9, 16], True))

    def test_an_argument_that_cannot_be_pickled_fails_at_submit(self):
        with Executor(1) as executor:
            with self.assertRaisesRegex(TypeError, "cannot pickle '_thread.lock' object"):
                executor.submit(square, threading.Lock())
            self.assertEqual(executor.submit(square, 2).result(30), 4)

    def test_threads_started_later_and_a_second_executor_fork_nothing_unsafe(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Executor(1) as first:
                slow = first.submit(sleep_then, 0.5, "first")
                with Executor(1) as second:  # forked while the first one's thread runs (parked)
                    self.assertEqual(second.submit(square, 6).result(30), 36)
                stop = threading.Event()
                thread = threading.Thread(target=stop.wait)
                thread.start()  # the caller is threaded now: its Executor still works, forking nothing itself
                try:
                    self.assertEqual(list(first.map(square, range(3))), [0, 1, 4])
                finally:
                    stop.set()
                    thread.join()
                self.assertEqual(slow.result(30), "first")
        self.assertEqual([str(w.message) for w in caught if "fork" in str(w.message)], [])

    def test_the_waiting_spare_ignores_ctrl_c_and_one_killed_is_replaced(self):
        with Executor(1) as executor:
            first_task = executor.submit(my_pid).result(30)
            # (a task that has answered may not have exited yet: it is not the spare)
            spare = waiting_spare(executor._template_pid, besides=[first_task])
            os.kill(spare, signal.SIGINT)  # as Ctrl-C reaches the whole process group
            time.sleep(0.1)
            self.assertTrue(alive(spare), "a spare ignores SIGINT while it waits")
            self.assertEqual(executor.submit(my_pid).result(30), spare, "and takes the next task")
            spare = waiting_spare(executor._template_pid, besides=[spare])
            os.kill(spare, signal.SIGKILL)
            for _ in range(500):
                if waiting_spare(executor._template_pid) not in (None, spare):
                    break
                time.sleep(0.01)
            self.assertNotEqual(executor.submit(my_pid).result(30), spare, "a killed spare is replaced")
            self.assertEqual(list(executor.map(square, range(3))), [0, 1, 4])

    def test_a_killed_template_fails_what_is_left(self):
        executor = Executor(1)
        running = executor.submit(sleep_then, 30, "never")
        queued = executor.submit(square, 2)
        time.sleep(0.2)
        os.kill(executor._template_pid, signal.SIGKILL)
        self.assertIsInstance(running.exception(30), TemplateGone)
        self.assertIsInstance(queued.exception(30), TemplateGone)
        with self.assertRaisesRegex(TemplateGone, r"the Executor's template process \(pid \d+\) ended"):
            executor.submit(square, 1)
        executor.shutdown()


def big(size):
    return b"x" * size


def nested(n):
    with Executor(2) as inner:
        return list(inner.map(square, range(n))), os.getpid() != inner._template_pid


def segfault_free_failure():
    raise OSError("no connection")


def run_script(source, *args):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "script.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        return subprocess.run([sys.executable, path] + list(args), env=env, capture_output=True, text=True, timeout=60)


class FunctionsOfMain(unittest.TestCase):
    """A script's functions: found by name in the template; the ones it does not have refused."""

    def test_functions_of_main_and_the_refused_ones(self):
        result = run_script("""
            import pickle
            from pynwheel.futures import Executor

            def before(x):
                return x + 1

            class Point:
                def __init__(self, x):
                    self.x = x

            with Executor(2) as executor:
                print(executor.submit(before, 1).result(), executor.submit(before, Point(3).x).result())
                print(executor.submit(getattr, Point(5), "x").result())
                def after():
                    return 0
                for fn in (lambda: 1, after):
                    try:
                        executor.submit(fn)
                    except pickle.PicklingError as exc:
                        print(str(exc).split(":")[1].strip())
                def before(x):
                    return x
                try:
                    executor.submit(before, 1)
                except pickle.PicklingError as exc:
                    print("redefined" in str(exc))
                class Later:
                    pass
                try:
                    executor.submit(type, Later())
                except pickle.PicklingError as exc:
                    print("__main__.Later was defined after" in str(exc))
        """)
        self.assertEqual(result.stderr, "")
        self.assertEqual(result.stdout.splitlines(), [
            "2 4", "5",
            "__main__.<lambda> is a lambda or a nested function",
            "__main__.after was defined after the Executor started",
            "True", "True",
        ])

    def test_a_forgotten_executor_is_shut_down_at_exit_and_a_dead_caller_leaves_no_process(self):
        result = run_script("""
            from pynwheel.futures import Executor
            import time
            def slow():
                time.sleep(0.3)
                print("task done", flush=True)
            executor = Executor(1)
            executor.submit(slow)
            print("main done", flush=True)
        """)
        self.assertEqual((result.stdout, result.stderr, result.returncode), ("main done\ntask done\n", "", 0))
        with tempfile.TemporaryDirectory() as directory:
            pids = os.path.join(directory, "pids")
            caller = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
                import os, sys, time
                from pynwheel.futures import Executor
                def task(path):
                    with open(path, "a") as f:
                        f.write("%d %d\\n" % (os.getppid(), os.getpid()))
                    time.sleep(60)
                executor = Executor(1)
                executor.submit(task, sys.argv[1])
                time.sleep(60)
            """), pids], env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
            for _ in range(500):
                if os.path.exists(pids) and read(pids).endswith("\n"):
                    break
                time.sleep(0.01)
            template, task = map(int, read(pids).split())
            caller.kill()
            caller.wait()
            for _ in range(500):
                if not (alive(template) or alive(task)):
                    break
                time.sleep(0.01)
            self.assertFalse(alive(template), "the template left with its caller")
            self.assertFalse(alive(task), "and so did its task")


def waiting_spare(template_pid, besides=()):
    """The template's one child when no task runs: the spare that waits for the next task
    (besides the given tasks, which may still be on their way out)."""
    for _ in range(500):
        with open("/proc/%d/task/%d/children" % (template_pid, template_pid)) as f:
            children = [int(pid) for pid in f.read().split()]
        live = [pid for pid in children if alive(pid) and pid not in besides]
        if len(live) == 1:
            return live[0]
        time.sleep(0.01)
    return None


def read(path):
    with open(path) as f:
        return f.read()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
