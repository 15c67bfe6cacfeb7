// Runs in a Node API caller's process.
// spawn(file, args?, options?): the run as a ChildProcess-like object, output as streams.
import { normalizeOptions, splitArguments, type RunOptions } from './options';
import { PythonProcess } from './python-process';
import type { ResultOf } from './result-types';

export function spawn<O extends RunOptions = {}>(file: string | URL, args?: readonly string[], options?: O): PythonProcess<ResultOf<O>>;
export function spawn<O extends RunOptions = {}>(file: string | URL, options?: O): PythonProcess<ResultOf<O>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function spawn(file: string | URL, argsOrOptions?: readonly string[] | RunOptions, maybeOptions?: RunOptions): PythonProcess<any> {
  const { args, options } = splitArguments(argsOrOptions, maybeOptions);
  return new PythonProcess(normalizeOptions(file, args, options), false);
}
