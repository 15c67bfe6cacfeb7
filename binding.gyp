{
  "variables": {
    # The runner's parts (native/runner/*.h say what each does); its test program builds the same.
    "runner_sources": [
      "native/runner/caller.cc",
      "native/runner/cold.cc",
      "native/runner/debug.cc",
      "native/runner/direct.cc",
      "native/runner/guess.cc",
      "native/runner/handover.cc",
      "native/runner/interp_cache.cc",
      "native/runner/json.cc",
      "native/runner/locate.cc",
      "native/runner/masquerade.cc",
      "native/runner/outcome.cc",
      "native/runner/request.cc",
      "native/runner/route.cc",
      "native/runner/run_args.cc",
      "native/runner/session.cc",
      "native/runner/signals.cc",
      "native/runner/warm.cc",
      "native/runner/wire.cc",
      "native/shared/protocol.cc",
      "native/posix/die.cc",
      "native/posix/fdmsg.cc",
      "native/posix/fds.cc",
      "native/posix/limits.cc",
      "native/posix/spawn.cc",
      "native/posix/sched.cc"
    ],
    "runner_defines": [
      "PYNWHEEL_VERSION=<!(node -p \"require('./package.json').version\")",
      "PYNWHEEL_NODE=<!(node -p \"JSON.stringify(process.env.npm_node_execpath || process.execPath)\")"
    ],
    # The test program is built where its source is: a checkout, not an installed package
    # (package.json's "files" leave test/ out).
    "build_tests": "<!(node -p \"+require('fs').existsSync('test/native/runner-vectors.cc')\")"
  },
  "targets": [
    {
      "target_name": "pynwheel",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/args.cc",
        "native/addon/die.cc",
        "native/addon/errors.cc",
        "native/addon/fdops.cc",
        "native/addon/fdpass.cc",
        "native/addon/poller.cc",
        "native/addon/process.cc",
        "native/addon/sockets.cc",
        "native/posix/die.cc",
        "native/posix/fdmsg.cc",
        "native/posix/fds.cc",
        "native/posix/limits.cc",
        "native/posix/spawn.cc",
        "native/posix/sched.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    },
    {
      "target_name": "pynwheel-runner",
      "type": "executable",
      "sources": ["native/runner/main.cc", "<@(runner_sources)"],
      "defines": ["<@(runner_defines)"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      # Static where the machine can link so (no dynamic loader at each start), else at least
      # libstdc++ and libgcc, whose loading costs about 1 ms a start.
      "ldflags": ["<!@(node scripts/runner-link-flags.js)"]
    }
  ],
  "conditions": [
    ["build_tests==1", {
      "targets": [
        {
          # For tests only (test/native-vectors.test.ts): the runner's own parts run on the
          # protocol's test vectors. Never installed, never run by pynwheel.
          "target_name": "runner-vectors",
          "type": "executable",
          "sources": ["test/native/runner-vectors.cc", "<@(runner_sources)"],
          "include_dirs": ["native"],
          "defines": ["<@(runner_defines)"],
          "cflags_cc!": ["-fno-exceptions"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fexceptions"]
        }
      ]
    }]
  ]
}
