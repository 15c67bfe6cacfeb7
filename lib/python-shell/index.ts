// Runs in a Node API caller's process: `import { PythonShell } from 'pynwheel/python-shell'`,
// python-shell 5's API with each shell a pynwheel run.
export { PythonShell, type Options } from './python-shell';
export { PythonShellError, PythonShellErrorWithLogs } from './errors';
export { NewlineTransformer } from './newline-transformer';
