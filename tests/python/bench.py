"""What hosting the connector from Python costs, as one JSON line.

Usage: python bench.py WASM_PATH EMULATOR_URL   (an emulator with --incidents 1000)

  load_ms          Component.from_file: compiling the component (wasmtime-py
                   has no precompiled-artifact cache unless one is configured);
  instantiate_ms   a fresh Store, instantiate and connection.open, the median
                   of 5 (the first, which also warms the allocator, included);
  list_all_1000_ms one list-all-incidents of top 1000 on a warm connection
                   (after a first such call: the token is cached), including
                   wasmtime-py lifting the 1000 records and this host
                   converting them to dicts.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from typing import List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import connection_config  # noqa: E402
from sentinel_host import Host  # noqa: E402  (scenario put host-test/python on the path)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print("usage: python bench.py WASM_PATH EMULATOR_URL", file=sys.stderr)
        return 2
    wasm_path, url = argv[1], argv[2].rstrip("/")
    host = Host(wasm_path, allowed_origins=[url])
    config = connection_config(url, url)

    opens = []
    for _ in range(5):
        started = time.perf_counter()
        connection = host.open(config, tenant="bench")
        opens.append(time.perf_counter() - started)
        connection.close()

    connection = host.open(config, tenant="bench")
    options = {"top": 1000}
    first = connection.list_all_incidents(options)
    started = time.perf_counter()
    warm = connection.list_all_incidents(options)
    listed = time.perf_counter() - started
    if len(first) != 1000 or len(warm) != 1000:
        print(f"expected 1000 incidents, got {len(first)} and {len(warm)}: start the emulator with --incidents 1000",
              file=sys.stderr)
        return 1
    connection.close()
    host.close()

    print(json.dumps({
        "host": "python",
        "versions": {"python": platform.python_version(), "wasmtime": importlib.metadata.version("wasmtime")},
        "load_ms": ms(host.compile_s),
        "instantiate_ms": ms(statistics.median(opens)),
        "list_all_1000_ms": ms(listed),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
