// Runs in a worker's process (encoding) and a submitter's (decoding): values and errors of jobs
// as JSON-safe data (the call codec's tree, lib/api/codec.ts, with its blobs as base64).
import { decodeValue, encodeValue } from '../api/codec';
import { AbortError, CallDiedError, CallTargetError, PythonError, TimeoutError, type PythonException, type RunFailure } from '../api/errors';
import { CallValueError } from '../api/codec';
import type { EncodedValue } from './job-format';

export function encodeJson(value: unknown, where: string): EncodedValue {
  const { tree, blobs } = encodeValue(value, where);
  return { tree, blobs: blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')) };
}

export function decodeJson(value: EncodedValue): unknown {
  // Each blob in an aligned buffer of its own: NDArray views need their element's alignment.
  const blobs = value.blobs.map((text) => {
    const raw = Buffer.from(text, 'base64');
    const aligned = Buffer.from(new ArrayBuffer(raw.length));
    raw.copy(aligned);
    return aligned;
  });
  return decodeValue(value.tree, blobs);
}

/** A PythonError's exception as call.py described it, back from the error. */
export function exceptionOf(err: PythonError): PythonException | undefined {
  if (err.type === null || err.traceback === null) return undefined;
  return {
    type: err.type,
    message: err.traceback.message,
    args: err.args ?? [],
    traceback: err.formattedTraceback ?? '',
    frames: err.traceback.frames,
    cause: err.cause instanceof PythonError ? exceptionOf(err.cause) : undefined,
    context: err.context ? exceptionOf(err.context) : undefined,
  };
}

export interface ErrorDescription { name: string; code: string | null; message: string; exception: unknown }

export function describeError(err: unknown): ErrorDescription {
  const e = err as Error & { code?: unknown; target?: string; timeout?: number };
  const exception = err instanceof PythonError ? exceptionOf(err)
    : err instanceof CallTargetError && err.cause instanceof PythonError ? exceptionOf(err.cause) : undefined;
  return {
    name: e?.name ?? 'Error',
    code: typeof e?.code === 'string' ? e.code : null,
    message: e?.message ?? String(err),
    exception: exception === undefined ? null : encodeJson(exception, 'exception'),
  };
}

/** The submitter's error for a worker's description: the class the local call would throw. */
export function rebuildError(d: ErrorDescription, failure: RunFailure, target: string): Error {
  const exception = d.exception ? decodeJson(d.exception as EncodedValue) as PythonException : undefined;
  const bare = d.message.replace(/^pynwheel: /, '');
  switch (d.name) {
    case 'PythonError': return new PythonError(failure, exception);
    case 'CallTargetError': return new CallTargetError(failure, target, (d.code ?? 'ENOTARGET') as CallTargetError['code'], bare, exception ? new PythonError(failure, exception) : undefined);
    case 'CallDiedError': { const e = new CallDiedError(failure, target); e.message = d.message; return e; }
    case 'TimeoutError': { const e = new TimeoutError(failure, 0); e.message = d.message; return e; }
    case 'AbortError': return new AbortError(failure, new Error('cancelled on the worker'));
    case 'CallValueError': { const e = new CallValueError('result', 'a value'); e.message = d.message; return e; }
    default: {
      const e = new Error(d.message) as Error & { code?: string };
      e.name = d.name;
      if (d.code) e.code = d.code;
      return e;
    }
  }
}
