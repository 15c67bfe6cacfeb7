// The ESM entry point of pynwheel/python-shell: the CommonJS build's exports, by name.
import pythonShell from './dist/python-shell/index.js';

export const { PythonShell, PythonShellError, PythonShellErrorWithLogs, NewlineTransformer } = pythonShell;
export default pythonShell;
