// Runs in a Node API caller's process.
// run(file, args?, options?): the run to its end, output captured, as a promise.
import type { RunResult } from './errors';
import { normalizeOptions, splitArguments, type RunOptions } from './options';
import { PythonProcess } from './python-process';
import type { ResultOf } from './result-types';

export function run<O extends RunOptions = {}>(file: string | URL, args?: readonly string[], options?: O): Promise<ResultOf<O>>;
export function run<O extends RunOptions = {}>(file: string | URL, options?: O): Promise<ResultOf<O>>;
export function run(file: string | URL, argsOrOptions?: readonly string[] | RunOptions, maybeOptions?: RunOptions): Promise<RunResult> {
  try {
    const { args, options } = splitArguments(argsOrOptions, maybeOptions);
    return new PythonProcess(normalizeOptions(file, args, options), true).result;
  } catch (err) {
    // Bad arguments reject, as everything else about the call does.
    return Promise.reject(err);
  }
}
