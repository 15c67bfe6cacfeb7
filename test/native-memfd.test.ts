// The addon's memfdCreate and mapFile (a call's values travel in memory files): what they give,
// and Node-style errors (code, errno, syscall) for what fails.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from '../dist/shared/native';

t.test('memfdCreate gives a close-on-exec memory file; mapFile maps it whole, privately', async (t) => {
  const fd = native.memfdCreate('pynwheel-test');
  try {
    t.ok(fd > 2);
    t.notOk(native.inheritableFds().includes(fd), 'close-on-exec');
    fs.writeSync(fd, Buffer.from('hello world'), 0, 11, 0);
    const mapped = Buffer.from(native.mapFile(fd));
    t.equal(mapped.toString(), 'hello world');
    mapped[0] = 0x48; // private: the file keeps its bytes
    const again = Buffer.alloc(5);
    fs.readSync(fd, again, 0, 5, 0);
    t.equal(again.toString(), 'hello');
    t.equal(Buffer.from(native.mapFile(fd)).toString(), 'hello world');
    fs.ftruncateSync(fd, 0);
    t.equal(native.mapFile(fd).byteLength, 0, 'an empty file is an empty buffer');
  } finally {
    fs.closeSync(fd);
  }
});

t.test('failures are Node-style errors', async (t) => {
  t.throws(() => native.mapFile(1 << 30), { code: 'EBADF', syscall: 'fstat', errno: -os.constants.errno.EBADF });
  const dir = fs.openSync('/', 'r');
  try {
    t.throws(() => native.mapFile(dir), { syscall: 'mmap' });
  } finally {
    fs.closeSync(dir);
  }
  t.throws(() => native.memfdCreate(5 as unknown as string), TypeError);
});
