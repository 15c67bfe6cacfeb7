// Runs in a Node API caller's process.
// Cuts a stream of text into lines (os.EOL), as python-shell's NewlineTransformer: one chunk per
// line pushed, the unterminated rest kept for the next chunk and pushed at the end.
import { EOL } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';

export class NewlineTransformer extends Transform {
  private _lastLineData: string | null = null;

  override _transform(chunk: unknown, _encoding: string, callback: TransformCallback): void {
    let data = String(chunk);
    if (this._lastLineData) data = this._lastLineData + data;
    const lines = data.split(EOL);
    this._lastLineData = lines.pop() ?? null;
    for (const line of lines) this.push(line);
    callback();
  }

  override _flush(done: TransformCallback): void {
    if (this._lastLineData) this.push(this._lastLineData);
    this._lastLineData = null;
    done();
  }
}
