"""Fire N concurrent heavy explorer requests and report statuses, wall time and peak memory.

    python -m benchmarks.explorer_load RUN_DIR [N]   # RUN_DIR: built once with --build

The heavy request is the one that hurt the old server: all positions of one model sorted
by the absolute log-probability difference to another model.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from capgym.store import open_run
from capgym.view.demo import synthetic_run
from capgym.view.server import serve_in_thread


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=300) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return -1  # refused, reset or timed out


def main() -> None:
    path = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--build":
        synthetic_run(path, n_models=2, n_stories=1000, tokens=200)
        return
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    srv, url = serve_in_thread(open_run(path, create=False))
    q = {"model": "synthetic-0", "compare": "synthetic-1", "sort": "absdiff", "order": "desc"}
    target = url + "api/positions?" + urlencode(q)
    _get(target)  # warm the cache
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        statuses = Counter(pool.map(lambda _: _get(target), range(n)))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    srv.shutdown()
    srv.server_close()
    print(json.dumps({"requests": n, "statuses": dict(statuses), "wall_s": round(wall, 1),
                      "rss_before_mb": base // 1024, "rss_peak_mb": peak // 1024}))  # fmt: skip


if __name__ == "__main__":
    main()
