"""Statistics of N normal samples, as one JSON line; examples/server.js runs it per request.

Standalone: python3 examples/stats.py 100000
"""
import json
import sys

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
if not 0 < n <= 10_000_000:
    raise ValueError(f"n must be between 1 and 10000000, not {n}")
samples = np.random.default_rng().normal(size=n)
p5, p50, p95 = np.percentile(samples, [5, 50, 95])
print(json.dumps({"n": n, "mean": float(samples.mean()), "std": float(samples.std()),
                  "p5": float(p5), "median": float(p50), "p95": float(p95)}))
