#!/usr/bin/env node
// The installed `pynwheel` command. Committed (npm links bins before install scripts run), so
// it only hands over to the compiled CLI.
'use strict';
const cli = require('../dist/cli/main.js');
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(cli.reportFailure(err)),
);
