// The frame decoder on its own: any split of the byte stream, fd accounting, and no fd leaked
// on any error path.
import t from 'tap';
import * as fs from 'node:fs';
import { MAX_FDS_PER_FRAME } from '../lib/shared/protocol-constants';
import { encodeFrame, FrameDecoder } from '../lib/shared/wire';

const openFds = () => fs.readdirSync('/proc/self/fd').length;
const devNulls = (n: number) => Array.from({ length: n }, () => fs.openSync('/dev/null', 'r'));

t.test('frames reassemble from any split, with their fds', async (t) => {
  const a = encodeFrame({ type: 'run', n: 1, text: 'ü'.repeat(50) }, 2);
  const b = encodeFrame({ type: 'signal', signal: 'SIGINT' }, 0);
  const stream = Buffer.concat([a, b]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const fds = devNulls(2);
    const decoder = new FrameDecoder(1 << 20);
    const frames = [
      ...decoder.push(stream.subarray(0, Math.max(cut, 1)), fds),
      ...decoder.push(stream.subarray(Math.max(cut, 1)), []),
    ];
    if (frames.length !== 2 || frames[0].fds.join() !== fds.join() || frames[1].message.type !== 'signal') {
      t.fail(`split at ${cut}`);
    }
    fds.forEach((fd) => fs.closeSync(fd));
  }
  t.pass(`every split of ${stream.length} bytes gives both frames, fds on the first`);
});

t.test('errors: each is a PynwheelError and closes every fd it held', async (t) => {
  const before = openFds();
  const header = (magic: string, version: number, fds: number, length: number) => {
    const h = Buffer.alloc(8);
    h.write(magic, 0, 'latin1');
    h.writeUInt8(version, 2);
    h.writeUInt8(fds, 3);
    h.writeUInt32BE(length, 4);
    return h;
  };
  const cases: Array<[string, Buffer, number, string]> = [
    ['bad magic', header('XX', 1, 0, 2), 0, 'EPROTO'],
    ['other version', header('PN', 9, 0, 2), 0, 'EVERSION'],
    ['too long', header('PN', 1, 0, 2000), 0, 'EPROTO'],
    ['too many fds', header('PN', 1, MAX_FDS_PER_FRAME + 1, 2), 0, 'EPROTO'],
    ['fds missing', encodeFrame({ type: 'x' }, 2), 1, 'EPROTO'],
    ['extra fds', encodeFrame({ type: 'x' }, 1), 3, 'EPROTO'],
    ['bad JSON', Buffer.concat([header('PN', 1, 1, 3), Buffer.from('{x}')]), 1, 'EPROTO'],
    ['no type', Buffer.concat([header('PN', 1, 1, 2), Buffer.from('{}')]), 1, 'EPROTO'],
  ];
  for (const [name, bytes, fdCount, code] of cases) {
    const decoder = new FrameDecoder(1000);
    const fds = devNulls(fdCount);
    try {
      decoder.push(bytes, fds);
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.equal((err as { code?: string }).code, code, `${name}: ${code}`);
    }
    decoder.drainFds().forEach((fd) => { try { fs.closeSync(fd); } catch { /* closed by the decoder */ } });
  }
  t.equal(openFds(), before, 'no fd left open');
});
