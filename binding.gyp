{
  "targets": [
    {
      "target_name": "pynwheel",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/die.cc",
        "native/errors.cc",
        "native/fdops.cc",
        "native/fdpass.cc",
        "native/poller.cc",
        "native/process.cc",
        "native/sockets.cc",
        "native/posix/die.cc",
        "native/posix/fdmsg.cc",
        "native/posix/limits.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    },
    {
      "target_name": "pynwheel-runner",
      "type": "executable",
      "sources": ["native/runner/main.cc", "native/runner/json.cc", "native/posix/die.cc", "native/posix/fdmsg.cc", "native/posix/limits.cc"],
      "defines": [
        "PYNWHEEL_VERSION=<!(node -p \"require('./package.json').version\")",
        "PYNWHEEL_NODE=<!(node -p \"JSON.stringify(process.env.npm_node_execpath || process.execPath)\")"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      # Static where the machine can link so (no dynamic loader at each start), else at least
      # libstdc++ and libgcc, whose loading costs about 1 ms a start.
      "ldflags": ["<!@(node scripts/runner-link-flags.js)"]
    }
  ]
}
