"""How a task's function reaches its process: pickled in the caller (functions and classes by
module and qualified name, as pickle does), found again by those names in the task, a fork of
the Executor's template. Runs in the caller (TaskPickler) and in the template (find_all).

A name of an importable module is found in the task by importing it, as pickle does. A name of
__main__ (or of any module with no spec, which cannot be imported again) is found only in what
the template already had: the caller's state when the Executor started. So the caller asks the
template, once per object, whether that name is the same object there; an object defined (or
redefined) later is refused at submit() with an error that names it."""

import io
import pickle
import sys
import types

ADVICE = ("a task's function, and the functions and classes in its arguments, are found by module and "
          "name in a fork of this process made when the Executor started; define them at the top level "
          "of a module before the Executor starts")


class TaskPickler(pickle.Pickler):
    """pickle.Pickler that also lists the objects it pickled by a name only the template can
    resolve (self.local_names: (module, qualname, id, line))."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.local_names = []

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)):
            module_name = getattr(obj, "__module__", None)
            qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
            if "<lambda>" in qualname or "<locals>" in qualname:
                raise pickle.PicklingError("%s.%s is a lambda or a nested function: it has no name another process can find it by"
                                           % (module_name, qualname))
            module = sys.modules.get(module_name)
            if module_name == "__main__" or (module is not None and getattr(module, "__spec__", None) is None):
                self.local_names.append((module_name, qualname, id(obj), _line(obj)))
        return NotImplemented


def dumps(obj):
    """(bytes, local_names) of obj pickled for a task."""
    buffer = io.BytesIO()
    pickler = TaskPickler(buffer)
    pickler.dump(obj)
    return buffer.getvalue(), pickler.local_names


def _line(obj):
    code = getattr(obj, "__code__", None)
    return code.co_firstlineno if code is not None else 0


def find_all(names):
    """In the template: None if every (module, qualname, id, line) is the same object here,
    else a message saying which is not."""
    for module_name, qualname, ident, line in names:
        found = sys.modules.get(module_name)
        for part in qualname.split(".") if found is not None else ():
            found = getattr(found, part, None)
            if found is None:
                break
        if found is None:
            return ("%s.%s was defined after the Executor started: the Executor's template process (forked then) "
                    "does not have it" % (module_name, qualname))
        if id(found) != ident or _line(found) != line:
            return ("%s.%s was redefined after the Executor started: the Executor's template process (forked then) "
                    "has another object by that name" % (module_name, qualname))
    return None
