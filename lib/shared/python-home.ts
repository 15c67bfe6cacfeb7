// Runs in the daemon and the CLI: where the package's Python side is. python/ holds the zygote's
// entry script, its package (_pynwheel), and the `pynwheel` package that runs import
// (`pynwheel python-path` prints the directory, for python outside pynwheel).
import * as path from 'node:path';

export const PYTHON_PACKAGE_HOME = path.resolve(__dirname, '..', '..', 'python');
