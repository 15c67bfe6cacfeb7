// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): pynwheel's own
// version, from package.json, so client and daemon can compare.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const VERSION: string = (JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8'),
) as { version: string }).version;
