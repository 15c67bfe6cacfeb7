// Types of the ESM entry point (index.mjs): the same as the CommonJS build's.
export * from './dist/index.js';
import * as pynwheel from './dist/index.js';
export default pynwheel;
