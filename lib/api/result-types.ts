// Runs in a Node API caller's process.
// What run() resolves to, typed from its options: Buffer or string or parsed JSON values, and
// null for an output that is not piped (or not buffered).
import type { Stream } from 'node:stream';
import type { RunResult } from './errors';
import type { RunOptions } from './options';

type OptionOf<O, K extends keyof RunOptions> = K extends keyof O ? O[K] : undefined;

/** Distributes over the option's possible values: a wide type gives a union. */
type TextFor<Mode, Encoding> = Mode extends 'binary' ? Buffer
  : Mode extends 'text' | 'json' ? string
    : Encoding extends 'buffer' | undefined ? Buffer : string;
type StdoutFor<Mode, Encoding> = Mode extends 'json' ? unknown[] : TextFor<Mode, Encoding>;

type EntryOf<Stdio, I extends 1 | 2> = Stdio extends readonly unknown[] ? Stdio[I] : Stdio extends undefined ? 'pipe' : Stdio;
type IfPiped<Entry, T> = Entry extends 'pipe' | undefined | null ? T : Entry extends 'inherit' | 'ignore' | number | Stream ? null : T | null;
type IfBuffered<Buffered, T> = Buffered extends false ? null : T;
type Captured<O, I extends 1 | 2, T> = IfBuffered<OptionOf<O, 'buffer'>, IfPiped<EntryOf<OptionOf<O, 'stdio'>, I>, T>>;

export type StdoutOf<O> = Captured<O, 1, StdoutFor<OptionOf<O, 'mode'>, OptionOf<O, 'encoding'>>>;
/** In mode 'json' stderr stays text. */
type StderrMode<Mode> = Mode extends 'json' ? 'text' : Mode;
export type StderrOf<O> = Captured<O, 2, TextFor<StderrMode<OptionOf<O, 'mode'>>, OptionOf<O, 'encoding'>>>;

export type ResultOf<O> = RunResult<StdoutOf<O>, StderrOf<O>>;
