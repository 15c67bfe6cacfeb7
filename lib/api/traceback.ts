// Runs in a Node API caller's process.
// The last traceback python printed on stderr, taken apart: exception type, message and the
// frames, innermost last (python's order).

export interface TracebackFrame {
  file: string;
  line: number;
  /** The function (`<module>` at the top level); null for a SyntaxError's location. */
  function: string | null;
  /** The source line python showed, trimmed; null when it had none. */
  source: string | null;
}

export interface Traceback {
  /** As python prints it: `ValueError`, `json.decoder.JSONDecodeError`. */
  type: string;
  /** Everything after `type: `, notes and continuation lines included; '' when there is none. */
  message: string;
  frames: TracebackFrame[];
}

const HEADER = /^Traceback \(most recent call last\):$/;
const GROUP_HEADER = /^ {2}\+ Exception Group Traceback \(most recent call last\):$/;
const FRAME = /^ {2}File "(.*)", line (\d+)(?:, in (.*))?$/;
const EXCEPTION = /^([A-Za-z_][\w.]*)(?:: ?([\s\S]*))?$/;

/** null when stderr holds no traceback (a plain sys.exit(1), or a message of the script's own). */
export function parseTraceback(stderr: string): Traceback | null {
  let lines = stderr.replace(/\r\n/g, '\n').split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  // The last traceback is the one that ended the run (chained ones come before it).
  let start = findLast(lines, (l) => HEADER.test(l));
  const groupStart = findLast(lines, (l) => GROUP_HEADER.test(l));
  if (groupStart > start) {
    // An exception group: the outer exception's lines carry a `  | ` margin; its
    // sub-exceptions (after `  +-+---`) are not parsed.
    const end = lines.findIndex((l, i) => i > groupStart && l.startsWith('  +-+'));
    lines = lines.slice(groupStart + 1, end < 0 ? undefined : end).map((l) => l.replace(/^ {2}\| ?/, ''));
    lines.unshift('Traceback (most recent call last):');
    start = 0;
  }
  if (start < 0) {
    // A SyntaxError in the script itself comes without a header: only its location.
    start = lines.findIndex((l) => FRAME.test(l));
    if (start < 0) return null;
    start -= 1;
  }
  const frames: TracebackFrame[] = [];
  let i = start + 1;
  while (i < lines.length) {
    const match = FRAME.exec(lines[i]);
    if (!match) {
      // Python's note for repeated frames ("[Previous line repeated 996 more times]").
      if (/^ {2}\[Previous line repeated/.test(lines[i])) { i++; continue; }
      break;
    }
    const frame: TracebackFrame = { file: match[1], line: Number(match[2]), function: match[3] ?? null, source: null };
    i++;
    // The source line and python 3.11's `^^^^` markers are indented by four.
    while (i < lines.length && lines[i].startsWith('    ')) {
      const text = lines[i].trim();
      if (frame.source === null && text && !/^[~^\s]+$/.test(text)) frame.source = text;
      i++;
    }
    frames.push(frame);
  }
  const rest = lines.slice(i);
  if (!rest.length) return null;
  const exception = EXCEPTION.exec(rest.join('\n'));
  if (!exception) return null;
  return { type: exception[1], message: (exception[2] ?? '').trimEnd(), frames };
}

function findLast<T>(items: T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i])) return i;
  return -1;
}
