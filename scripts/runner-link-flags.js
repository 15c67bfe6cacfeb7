#!/usr/bin/env node
// Prints the native runner's link flags for binding.gyp: fully static where this machine's C++
// compiler can link so (glibc's libc.a is in Debian's libc6-dev, but a separate package on some
// systems), since a static runner skips the dynamic loader at every warm run (0.2 ms of a 3 ms
// run); else libstdc++ and libgcc only, whose loading alone costs about 1 ms a start.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function canLinkStatically() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pynwheel-link-'));
  try {
    const source = path.join(dir, 'probe.cc');
    const program = path.join(dir, 'probe');
    fs.writeFileSync(source, '#include <string>\nint main(int argc, char** argv) { return std::string(argv[0]).empty() ? 1 : argc - 1; }\n');
    const compiler = process.env.CXX || 'c++';
    const built = spawnSync(compiler, ['-static', '-o', program, source], { stdio: 'ignore' });
    return built.status === 0 && spawnSync(program, [], { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(canLinkStatically() ? '-static\n' : '-static-libstdc++ -static-libgcc\n');
