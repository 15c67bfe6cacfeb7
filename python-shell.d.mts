// Types of pynwheel/python-shell's ESM entry point (python-shell.mjs): the CommonJS build's.
export * from './dist/python-shell/index.js';
import * as pythonShell from './dist/python-shell/index.js';
export default pythonShell;
