// The ESM entry point: the CommonJS build's exports, by name.
import pynwheel from './dist/index.js';

export const {
  run, spawn, PythonProcess, PythonError, PynwheelError, AbortError, TimeoutError, MaxBufferError,
  JsonLineError, parseTraceback, VERSION, call, bind, iterate, parseTarget, NDArray, CallValueError,
  CallDiedError, CallTargetError, runTasks, TASK_RESULTS, SUCCESSFUL_RESULTS, cluster, PackagesError,
} = pynwheel;
export default pynwheel;
