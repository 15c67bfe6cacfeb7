"""pynwheel's first example: run it with `npx pynwheel run examples/hello.py`."""
import json
import os
import sys

print(f"Hello from Python {sys.version.split()[0]} (pid {os.getpid()}), args: {json.dumps(sys.argv[1:])}")
print("Run it again: the second run is a fork of a warm interpreter.")
